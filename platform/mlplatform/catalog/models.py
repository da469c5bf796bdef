"""The data of a model's page (versions, thresholds, champion, benchmarks, monitoring) and of a version diff."""

from __future__ import annotations

import base64
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from mlplatform.config import Settings
from mlplatform.errors import EnvError, FeatureError, UnknownModelError
from mlplatform.features import trainset_manifest
from mlplatform.lifecycle.benchmark import history as benchmark_history
from mlplatform.lifecycle.models import ModelDescription, VersionInfo, client
from mlplatform.monitoring.performance import read_performance
from mlplatform.monitoring.store import read_drift

__all__ = ["model", "diff", "roc_report", "ROC_ARTIFACT"]

ROC_ARTIFACT = "benchmark/roc.png"  # the champion/challenger ROC plot lifecycle.benchmark logs to its run

log = logging.getLogger(__name__)


def _drift_summary(settings: Settings, name: str) -> list[dict[str, Any]]:
    """One row per (run date, version): features judged, how many drifted, the worst status."""
    rows = read_drift(settings, name, source=None)
    if rows.empty:
        return []
    out = []
    for (run_date, version), group in rows.groupby(["run_date", "version"], sort=True):
        statuses = group["status"].astype(str)
        out.append(
            {
                "run_date": run_date,
                "version": version,
                "features": len(group),
                "alerts": int((statuses == "alert").sum()),
                "warnings": int((statuses == "warn").sum()),
            }
        )
    return list(reversed(out))


def model(found: ModelDescription, settings: Settings) -> dict[str, Any]:
    """Versions with their links and metrics, thresholds, champion history, benchmarks and monitoring."""
    name = found.summary.name
    metric_names = list(dict.fromkeys(k for v in found.versions for k in v.metrics))
    return {
        "name": name,
        "found": found,
        "versions": list(reversed(found.versions)),
        "metric_names": metric_names,
        "thresholds": found.definitions.get("thresholds", []),
        "benchmarks": benchmark_history(settings, model=name, limit=10),
        "drift": _drift_summary(settings, name),
        "performance": read_performance(settings, name).to_dict("records"),
    }


def roc_report(settings: Settings, benchmark: dict[str, Any]) -> dict[str, Any]:
    """A benchmark's ROC-AUC of both sides and its recorded ROC plot (a ``data:`` PNG), None when not recorded.

    The benchmark stores no curve points: the plot is the PNG its MLflow run keeps as ``benchmark/roc.png``.
    """
    from mlflow.exceptions import MlflowException

    recorded = json.loads(benchmark.get("metrics") or "{}")
    aucs = {side: recorded.get(side, {}).get("roc_auc") for side in ("champion", "challenger")}
    image = None
    run_id = benchmark.get("mlflow_run_id") or ""
    if run_id:
        try:
            with tempfile.TemporaryDirectory(prefix="mlp-catalog-roc-") as tmp:
                path = client(settings).download_artifacts(run_id, ROC_ARTIFACT, tmp)
                image = "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
        except (MlflowException, OSError) as exc:
            log.debug("benchmark run %s has no %s: %s", run_id, ROC_ARTIFACT, exc)
    return {"benchmark_id": benchmark.get("benchmark_id"), "run_id": run_id, "auc": aucs, "image": image}


def _version(found: Any, number: int) -> VersionInfo:
    for v in found.versions:
        if v.version == number:
            return v
    known = ", ".join(str(v.version) for v in found.versions) or "none"
    raise UnknownModelError(f"model:{found.summary.name}@{number} does not exist", f"versions: {known}")


def _params(settings: Settings, run_id: str) -> dict[str, str]:
    from mlflow.exceptions import MlflowException

    if not run_id:
        return {}
    try:
        return dict(client(settings).get_run(run_id).data.params)
    except MlflowException as exc:
        log.debug("run %s of a model version cannot be read: %s", run_id, exc)
        return {}


def _feature_sets(settings: Settings, training_set: str | None) -> dict[str, str]:
    """Feature set -> the version the training set pinned (empty when the training set is unknown)."""
    if not training_set or "@v" not in training_set:
        return {}
    name, _, number = training_set.removeprefix("ts:").rpartition("@v")
    try:
        manifest = trainset_manifest(name, int(number), settings)
    except (FeatureError, ValueError) as exc:
        log.debug("no manifest for %s: %s", training_set, exc)
        return {}
    return {fs: info["id"] for fs, info in manifest["features"].items()}


def _packages(settings: Settings, env_id: str | None) -> dict[str, str]:
    from mlplatform import envs

    if not env_id:
        return {}
    try:
        return dict(envs.resolve(env_id, settings).packages)
    except EnvError as exc:
        log.debug("environment %s is not published: %s", env_id, exc)
        return {}


def _rows(section: str, left: dict[str, Any], right: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"section": section, "key": k, "a": left.get(k), "b": right.get(k), "differs": left.get(k) != right.get(k)}
        for k in sorted(set(left) | set(right))
    ]


def diff(found: ModelDescription, a: int, b: int, settings: Settings) -> dict[str, Any]:
    """Two versions side by side: links, parameters, metrics, pinned feature sets and environment packages."""
    name = found.summary.name
    va, vb = _version(found, a), _version(found, b)

    def links(v: VersionInfo) -> dict[str, Any]:
        return {
            "environment": v.env_id,
            "training set": v.training_set,
            "code": v.code_version,
            "decision threshold": v.decision_threshold,
            "aliases": ", ".join(v.aliases) or None,
        }

    rows = (
        _rows("links", links(va), links(vb))
        + _rows("parameters", _params(settings, va.run_id), _params(settings, vb.run_id))
        + _rows("metrics", va.metrics, vb.metrics)
        + _rows("feature sets", _feature_sets(settings, va.training_set), _feature_sets(settings, vb.training_set))
        + _rows("packages", _packages(settings, va.env_id), _packages(settings, vb.env_id))
    )
    return {"name": name, "a": va, "b": vb, "rows": rows, "versions": [v.version for v in found.versions]}
