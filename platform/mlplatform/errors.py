"""Error hierarchy: one root, one subclass per area.

Every message names the object involved, says what was wrong and what to do.
The CLI renders a :class:`PlatformError` as one line and exits with code 1.
"""

from __future__ import annotations

__all__ = [
    "PlatformError",
    "ConfigError",
    "SparkSetupError",
    "SubmitError",
    "EnvError",
    "TableError",
    "FeatureError",
    "TrainingError",
    "ModelError",
    "ScoringError",
    "LineageError",
    "LifecycleError",
    "HadoopError",
]


class PlatformError(Exception):
    """Root of every error the platform raises on purpose.

    Args:
        message: what was wrong, naming the object.
        hint: what the user can do about it (rendered after the message).
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        """The one-line form the CLI prints."""
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(PlatformError):
    """Bad platform configuration (unknown key, wrong type, missing file)."""


class SparkSetupError(PlatformError):
    """Spark cannot start: no Java 17+, missing jars, bad profile."""


class SubmitError(PlatformError):
    """A spark-submit command line cannot be built."""


class EnvError(PlatformError):
    """Environment specs, locks, builds, archives."""


class TableError(PlatformError):
    """Delta table access."""


class FeatureError(PlatformError):
    """Feature-set definitions, ingestion and training sets."""


class TrainingError(PlatformError):
    """Model specs, hyperparameter search and registration."""


class ModelError(PlatformError):
    """Registered models: references, versions, aliases."""


class ScoringError(PlatformError):
    """Batch and online scoring, model export."""


class LineageError(PlatformError):
    """Lineage edges and audit log."""


class LifecycleError(PlatformError):
    """Retrain, benchmark, promote, rollback."""


class HadoopError(PlatformError):
    """The one-machine Hadoop (HDFS + YARN) and YARN applications."""
