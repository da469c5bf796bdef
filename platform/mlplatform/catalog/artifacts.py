"""The data of the artifact pages: a feature set, a training set, an environment, a model's scores."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from mlplatform import envs, features
from mlplatform.catalog.stats import column_stats
from mlplatform.config import Settings
from mlplatform.envs.lock import lock_path, read_lock
from mlplatform.envs.spec import spec_path
from mlplatform.errors import EnvError, UnknownIdError
from mlplatform.lifecycle.models import ModelDescription
from mlplatform.lineage.graph import LineageGraph
from mlplatform.scoring import results

__all__ = ["feature_set", "training_set", "environment", "scores", "impact"]

log = logging.getLogger(__name__)


def _kind_of(artifact_id: str) -> str:
    return artifact_id.partition(":")[0]


def impact(graph: LineageGraph, ids: list[str]) -> dict[str, list[str]]:
    """What was made downstream of any of ``ids``, by kind: ``ts``, ``model``, ``scores``."""
    found: dict[str, set[str]] = {"ts": set(), "model": set(), "scores": set()}
    for artifact_id in ids:
        if artifact_id in graph:
            for child in graph.walk(artifact_id).downstream_ids():
                found.setdefault(_kind_of(child), set()).add(child)
    return {kind: sorted(found[kind]) for kind in ("ts", "model", "scores")}


def _readers(graph: LineageGraph, version_ids: list[str]) -> list[dict[str, Any]]:
    """Per version of a feature set: the training-set versions, model versions and scoring runs that read it."""
    return [{"id": i, **impact(graph, [i])} for i in version_ids if i in graph]


def feature_set(name: str, settings: Settings, graph: LineageGraph) -> dict[str, Any]:
    """Definition, schema, revisions, Delta history, freshness and impact of feature set ``name``."""
    described = features.describe(name, settings)
    logged = features.history(name, settings)
    newest = (described.get("time_range") or (None, None))[1]
    version_ids = [c["id"] for c in logged["table"]]
    reach = impact(graph, version_ids)
    reach["ts"] = sorted(set(reach["ts"]) | set(described["used_by"]["training_sets"]))
    descriptions = {f.name: f.description for f in described["definition"].features}
    columns = [(n, t, descriptions.get(n, "")) for n, t in described.get("schema", [])] or [
        (f.name, f.type, f.description) for f in described["definition"].features
    ]
    stats = column_stats(described["table"], [c[0] for c in columns]) if described.get("version") is not None else []
    return {
        "id": None,
        "schema": [],
        "time_range": None,
        "last_commit_at": None,
        **described,
        "columns": columns,
        "stats": {s["column"]: s for s in stats},
        "history": list(reversed(logged["table"])),
        "revisions_list": list(reversed(logged["definitions"])),
        "newest_event": newest,
        "age": _age(newest),
        "impact": reach,
        "readers": _readers(graph, version_ids),
    }


def _age(newest: Any) -> str | None:
    if newest is None:
        return None
    when = newest.to_pydatetime() if hasattr(newest, "to_pydatetime") else newest
    if not isinstance(when, datetime):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    days = (datetime.now(timezone.utc) - when).days
    return f"{days} day(s) ago"


def training_set(name: str, version: int | None, settings: Settings, graph: LineageGraph) -> dict[str, Any]:
    """Versions of training set ``name`` and the manifest of one (default the latest), with its models."""
    versions = features.trainset_versions(name, settings)
    manifest = features.trainset_manifest(name, version, settings)
    return {
        "name": name,
        "versions": list(reversed(versions)),
        "manifest": manifest,
        "rebuild": f"mlp trainset rebuild {name} --version {manifest['version']}",
        "impact": impact(graph, [manifest["id"]]),
        "in_lineage": manifest["id"] in graph,
    }


def _model_versions_using(env_id: str, models: list[ModelDescription]) -> list[str]:
    """Registered model versions whose recorded environment is ``env_id`` (or, for a bare name, any build of it)."""
    used = []
    for model in models:
        for v in model.versions:
            if v.env_id and (v.env_id == env_id or v.env_id.startswith(env_id + "@")):
                used.append(f"model:{model.summary.name}@{v.version}")
    return used


def environment(env_id: str, settings: Settings, models: list[ModelDescription]) -> dict[str, Any]:
    """The published build of ``env_id`` (else the spec and lock in the project), and the model versions using it.

    Raises:
        UnknownIdError: nothing is known about it: no build, no spec and no model version using it.
    """
    body = env_id.removeprefix("env:")
    name = body.partition("@")[0]
    artifact = None
    try:
        artifact = envs.resolve(body, settings)
    except EnvError as exc:
        log.debug("environment %s has no published build: %s", env_id, exc)
    spec = envs.load_spec(name) if name in envs.spec_names() else None
    locked = lock_path(spec_path(name)) if spec is not None else None
    env_lock = read_lock(locked, name) if locked is not None and locked.is_file() else None
    used = _model_versions_using(f"env:{body}", models)
    if artifact is None and spec is None and not used:
        raise UnknownIdError(f"environment {env_id} is neither published, specified nor used by a model version")
    return {
        "id": env_id if "@" in body or artifact is None else artifact.id,
        "name": name,
        "artifact": artifact,
        "builds": envs.list_artifacts(settings, name),
        "spec": spec.to_yaml() if spec is not None else None,
        "lock": None if env_lock is None else env_lock.path.read_text(),
        "packages": sorted((artifact.packages if artifact else dict(env_lock.pins) if env_lock else {}).items()),
        "used_by": used,
    }


def scores(model: str, settings: Settings) -> dict[str, Any]:
    """A model's scores table: run dates with row counts and input versions, and its latest commits."""
    runs = results.runs(model, settings)
    return {
        "model": model,
        "table": results.describe(model, settings),
        "runs": list(reversed(runs.to_dict("records"))),
    }
