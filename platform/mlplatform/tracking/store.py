"""MLflow tracking and registry wired to the platform settings."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from mlplatform.config import Settings, project_root
from mlplatform.identity import current_actor

__all__ = ["configure", "experiment_id", "code_version", "run_tags"]

log = logging.getLogger(__name__)


def configure(settings: Settings) -> str:
    """Point MLflow's tracking and registry at the configured store; return the URI."""
    import mlflow

    uri = settings.mlflow_tracking_uri or ""
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def experiment_id(name: str, settings: Settings) -> str:
    """Id of experiment ``name``, created with its artifacts under ``mlflow_artifact_root``."""
    import mlflow

    configure(settings)
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    root = settings.mlflow_artifact_root or ""
    location = root if "://" in root else Path(root).as_uri()
    return mlflow.create_experiment(name, artifact_location=f"{location}/{name}")


def code_version(settings: Settings, explicit: str | None = None) -> str:
    """The code version to record: explicit, the setting, or the project's git commit (+ "-dirty")."""
    if explicit or settings.code_version:
        return explicit or settings.code_version or ""
    root = project_root()
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        log.warning("no git repository at %s; recording code version 'unknown'", root)
        return "unknown"
    return f"git:{head[:12]}{'-dirty' if dirty else ''}"


def run_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags for ``MlflowClient.create_run``: ``tags`` plus the run's user, the authenticated actor.

    ``create_run`` records ``mlflow.user`` only from its tags (else ``unknown``); the fluent API
    would take it from ``getpass``, which ``LOGNAME`` can change.
    """
    return {**tags, "mlflow.user": current_actor()}
