"""Backfill reference profiles for model versions registered before profiles were kept (or whose row was lost).

For each version without a stored profile, in this order:

1. its training run logged ``monitoring/profile.json`` (every version ``mlp train`` registered
   since profiles exist): that profile is stored as it was built;
2. otherwise it is rebuilt as training builds it: the version's own training set
   (``mlp.training_set`` tag, that exact Delta version), split with the model spec's holdout
   fraction and seed (the spec as it is now: a spec changed since then gives another split,
   and the log says which spec was used), the features of the rows the model was refit on,
   and the model's prediction and probability on the held-out rows computed in **its own
   environment** (the benchmark's evaluation subprocess: the driver never unpickles it).

A version with neither a profile artifact nor a training-set tag cannot be backfilled: the
error says so. ``force`` rebuilds even when a profile is stored.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlplatform.config import Settings
from mlplatform.errors import MonitoringError, NoProfileError
from mlplatform.lifecycle.benchmark import evaluate
from mlplatform.lifecycle.models import client, version_numbers
from mlplatform.monitoring import Profile
from mlplatform.monitoring.store import read_profile, write_profile
from mlplatform.tracking import model_registry
from mlplatform.tracking.model_registry import TAG_TRAINING_SET, ModelVersionInfo
from mlplatform.training.executor import HOLDOUT_COLUMN
from mlplatform.training.prepare import prepare
from mlplatform.training.reference import PROFILE_ARTIFACT, reference_profile
from mlplatform.training.spec import load_spec
from mlplatform.training.train import load_training_data

__all__ = ["Backfilled", "backfill"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backfilled:
    """What happened to one version's profile: ``kept`` (one was stored), ``artifact`` or ``rebuilt``."""

    model_id: str
    how: str
    features: int
    outputs: int

    def line(self) -> str:
        if self.how == "kept":
            return f"{self.model_id}: profile already stored ({self.features} features, {self.outputs} outputs)"
        source = "its run's profile.json" if self.how == "artifact" else "its training set, outputs in its env"
        return f"{self.model_id}: profile stored from {source} ({self.features} features, {self.outputs} outputs)"


def _from_artifact(info: ModelVersionInfo, settings: Settings, workdir: Path) -> Profile | None:
    from mlflow.exceptions import MlflowException

    try:
        path = client(settings).download_artifacts(info.run_id, f"{PROFILE_ARTIFACT}/profile.json", str(workdir))
    except (MlflowException, OSError):
        return None
    return Profile.from_dict(json.loads(Path(path).read_text()))


def _rebuilt(info: ModelVersionInfo, settings: Settings, workdir: Path) -> Profile:
    ts_id = info.tags.get(TAG_TRAINING_SET) or ""
    name, _, version = ts_id.removeprefix("ts:").partition("@v")
    if not name or not version.isdigit():
        raise MonitoringError(
            f"{info.id} has no monitoring/profile.json and records no training set ({TAG_TRAINING_SET})",
            "its reference cannot be rebuilt: register a version trained with 'mlp train' instead",
        )
    spec = load_spec(info.name)
    data = load_training_data(spec, settings, version=int(version))
    prepared = prepare(spec, data.frame, exclude=data.exclude)
    held_out = prepared.frame[prepared.frame[HOLDOUT_COLUMN]]
    log.info(
        "%s: rebuilding its reference from %s (%d rows, %d held out; split of spec conf/models/%s.yaml)",
        info.id,
        ts_id,
        len(prepared.frame),
        len(held_out),
        info.name,
    )
    evaluation = evaluate(info, held_out, spec.label, [], settings, workdir, outputs=True)
    return reference_profile(info.name, prepared, evaluation.outputs)


def _one(info: ModelVersionInfo, settings: Settings, force: bool) -> Backfilled:
    if not force:
        try:
            stored = read_profile(settings, info.name, info.version)
            return Backfilled(info.id, "kept", len(stored.features), len(stored.outputs))
        except NoProfileError:
            pass
    with tempfile.TemporaryDirectory(prefix="mlp-profile-") as tmp:
        profile = None if force else _from_artifact(info, settings, Path(tmp))
        how = "artifact" if profile is not None else "rebuilt"
        if profile is None:
            profile = _rebuilt(info, settings, Path(tmp))
    write_profile(settings, profile.with_model(info.name, info.version), job_run=f"backfill-{info.run_id}")
    done = Backfilled(info.id, how, len(profile.features), len(profile.outputs))
    log.info("%s", done.line())
    return done


def backfill(model: str, settings: Settings, version: int | None = None, force: bool = False) -> list[Backfilled]:
    """Store a reference profile for ``model``'s version ``version`` (default: every version lacking one).

    Raises:
        UnknownModelError: no such model or version.
        MonitoringError: a version can be neither read from its run nor rebuilt.
    """
    numbers = [version] if version is not None else version_numbers(model, settings)
    infos = [model_registry.resolve(f"{model}@{number}", settings) for number in numbers]
    return [_one(info, settings, force) for info in infos]
