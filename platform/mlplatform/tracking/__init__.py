"""MLflow as tracker and registry: :mod:`~mlplatform.tracking.store` points MLflow at the configured
store; :mod:`~mlplatform.tracking.model_registry` resolves ``model:<name>@<alias|version>`` and holds the
tags that link a registered version to its artifacts."""
