"""The reference profile a model version is monitored against: its training rows and its held-out outputs.

Built after the refit (:func:`reference_profile`), logged with the run as
``monitoring/profile.json`` and, once the version is registered, stored in
``<warehouse>/_platform/monitoring/profiles`` (:func:`store_reference`), where each
scoring run from the feature repository finds it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from mlplatform.config import Settings
from mlplatform.monitoring import Profile, build_profile
from mlplatform.monitoring.store import write_profile
from mlplatform.training.executor import HOLDOUT_COLUMN
from mlplatform.training.prepare import Prepared

__all__ = ["PROFILE_ARTIFACT", "reference_profile", "log_reference", "store_reference"]

log = logging.getLogger(__name__)

PROFILE_ARTIFACT = "monitoring"


def reference_profile(model: str, prepared: Prepared, outputs: Mapping[str, Any] | None) -> Profile:
    """Each feature as in the rows the model was refit on; its prediction and probability on the held-out rows."""
    training = prepared.frame[~prepared.frame[HOLDOUT_COLUMN]][prepared.features]
    outputs = outputs or {}
    return build_profile(training, outputs.get("prediction"), outputs.get("probability"), model=model)


def log_reference(client: Any, run_id: str, profile: Profile, workdir: Path) -> None:
    """The profile as the run's ``monitoring/profile.json`` artifact."""
    folder = workdir / PROFILE_ARTIFACT
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profile.json").write_text(json.dumps(profile.to_dict(), indent=1))
    client.log_artifacts(run_id, str(folder), PROFILE_ARTIFACT)


def store_reference(settings: Settings, profile: Profile, version: int, run_id: str) -> None:
    """Store the profile as the reference of the registered version ``version``."""
    named = replace(profile, version=str(version))
    write_profile(settings, named, job_run=run_id)
    log.info(
        "reference profile of %s stored: %d features, %d outputs",
        named.subject,
        len(named.features),
        len(named.outputs),
    )
