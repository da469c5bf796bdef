"""Lifecycle errors with the exit codes a scheduler can act on.

| code | meaning | what a scheduler should do |
|---|---|---|
| 0 | done: promoted, kept, or already done for this run date | nothing |
| 1 | any other platform error (bad config, a failed job) | alert |
| 2 | bad command line | fix the call |
| 3 | unknown id, model or version | fix the call / configuration |
| 4 | the model has no champion (or no previous one to roll back to) | promote a first version |
| 99 | no new labelled data since the champion was trained: nothing to do | mark the run skipped (Airflow's default ``skip_on_exit_code``) |
"""

from __future__ import annotations

from mlplatform.errors import LifecycleError
from mlplatform.lineage.graph import EXIT_NOT_FOUND

__all__ = ["EXIT_NOT_FOUND", "EXIT_NO_CHAMPION", "EXIT_NO_NEW_DATA", "UnknownModelError", "NoChampionError", "NoNewDataError"]

EXIT_NO_CHAMPION = 4
EXIT_NO_NEW_DATA = 99


class UnknownModelError(LifecycleError):
    """No registered model or model version by that name."""

    exit_code = EXIT_NOT_FOUND


class NoChampionError(LifecycleError):
    """The model has no ``champion`` alias, or no earlier champion to roll back to."""

    exit_code = EXIT_NO_CHAMPION


class NoNewDataError(LifecycleError):
    """Nothing to retrain on: no fresh labelled rows since the champion's training set."""

    exit_code = EXIT_NO_NEW_DATA
