"""Model specs, hyperparameter search, trial execution, metrics and registration."""
