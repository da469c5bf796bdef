"""The model lifecycle: retrain -> benchmark champion and challenger -> promote or keep, rollback."""
