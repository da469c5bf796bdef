"""Every error the platform raises on purpose, and every exit code: one root, one subclass per area.

Every message names the object involved, says what was wrong and what to do. The CLI
and the jobs render a :class:`PlatformError` as one line and exit with its
:attr:`~PlatformError.exit_code`; :func:`error_line` shortens a foreign error (a Spark/JVM
trace) to the one line such a message quotes.

| code | meaning | what a scheduler should do |
|---|---|---|
| 0 | done: promoted, kept, or already done for this run date | nothing |
| 1 | any other platform error (bad config, a failed job) | alert |
| 2 | bad command line; ``mlp train``: the model missed a threshold (run kept, not registered) | \
fix the call / the model |
| 3 | unknown id, model or version, or a version without a reference profile | fix the call / configuration |
| 4 | the model has no champion (or no previous one to roll back to) | promote a first version |
| 5 | ``mlp audit verify``: the audit log's hash chain is broken (a row edited, deleted or moved) | \
alert: investigate who altered the log |
| 6 | a signed artifact (model directory, environment) fails verification: unsigned, unknown key, altered file | \
alert: investigate who altered the artifact |
| 99 | no new labelled data since the champion was trained: nothing to do | \
mark the run skipped (Airflow's default ``skip_on_exit_code``) |
"""

from __future__ import annotations

import re
from typing import ClassVar

__all__ = [
    "EXIT_OK",
    "EXIT_ERROR",
    "EXIT_USAGE",
    "EXIT_THRESHOLD_MISSED",
    "EXIT_NOT_FOUND",
    "EXIT_NO_CHAMPION",
    "EXIT_AUDIT_BROKEN",
    "EXIT_SIGNATURE",
    "EXIT_NO_NEW_DATA",
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
    "MonitoringError",
    "GovernanceError",
    "NoProfileError",
    "HadoopError",
    "StorageError",
    "SignatureError",
    "UnknownIdError",
    "AuditChainError",
    "UnknownModelError",
    "NoChampionError",
    "NoNewDataError",
    "NotTriggeredError",
    "error_line",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_THRESHOLD_MISSED = 2
EXIT_NOT_FOUND = 3
EXIT_NO_CHAMPION = 4
EXIT_AUDIT_BROKEN = 5
EXIT_SIGNATURE = 6
EXIT_NO_NEW_DATA = 99


class PlatformError(Exception):
    """Root of every error the platform raises on purpose.

    Args:
        message: what was wrong, naming the object.
        hint: what the user can do about it (rendered after the message).

    Attributes:
        exit_code: the process exit code of a CLI command or job that ends with this error.
    """

    exit_code: ClassVar[int] = EXIT_ERROR

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


class GovernanceError(PlatformError):
    """Owners, approvers and promotion requests (``conf/governance.yaml``): a refused or malformed approval."""


class MonitoringError(PlatformError):
    """Reference profiles, drift and data-quality checks, ``conf/monitoring.yaml``."""


class HadoopError(PlatformError):
    """The one-machine Hadoop (HDFS + YARN) and YARN applications."""


class StorageError(PlatformError):
    """A file operation on a local path or an ``hdfs://`` URI failed."""


class SignatureError(PlatformError):
    """A signed artifact does not verify: unsigned, signed by an unknown key, or altered after signing."""

    exit_code = EXIT_SIGNATURE


class UnknownIdError(LineageError):
    """The id is malformed or not in the lineage table."""

    exit_code = EXIT_NOT_FOUND


class AuditChainError(LineageError):
    """The audit log's hash chain does not verify: a row was edited, deleted or moved."""

    exit_code = EXIT_AUDIT_BROKEN


class UnknownModelError(LifecycleError):
    """No registered model or model version by that name."""

    exit_code = EXIT_NOT_FOUND


class NoChampionError(LifecycleError):
    """The model has no ``champion`` alias, or no earlier champion to roll back to."""

    exit_code = EXIT_NO_CHAMPION


class NoNewDataError(LifecycleError):
    """Nothing to retrain on: no fresh labelled rows since the champion's training set."""

    exit_code = EXIT_NO_NEW_DATA


class NotTriggeredError(LifecycleError):
    """Nothing asks for a retrain: the policy retrains on triggers only, and none fired."""

    exit_code = EXIT_NO_NEW_DATA


class NoProfileError(MonitoringError):
    """The model version has no stored reference profile."""

    exit_code = EXIT_NOT_FOUND


def error_line(exc: BaseException, pattern: str | None = None, last: bool = False, limit: int | None = None) -> str:
    """One line of an error's (often a Spark/JVM trace's) message, for a one-line :class:`PlatformError`.

    The first line that matches the regular expression ``pattern`` (``last``: the last one),
    else the first line; the exception's type name when the message is blank. Lines are
    stripped, blank ones skipped; the line is cut to ``limit`` characters.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    matching = [line for line in lines if re.search(pattern, line)] if pattern else []
    line = (matching[-1] if last else matching[0]) if matching else lines[0]
    return line if limit is None else line[:limit]
