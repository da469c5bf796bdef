"""Helpers for the batch scoring tests: data, model registration in the platform format, Delta inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FEATURES = ["f0", "f1", "f2", "f3"]
REPO = Path(__file__).resolve().parents[2]


def make_frame(n: int, seed: int = 0, keys: bool = True) -> pd.DataFrame:
    """``customer_id`` + four float features; the label depends on an interaction."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(FEATURES)))
    frame = pd.DataFrame(X, columns=FEATURES)
    frame["label"] = ((X[:, 0] + X[:, 1] * X[:, 2] + 0.3 * rng.normal(size=n)) > 0).astype("int64")
    if keys:
        frame.insert(0, "customer_id", np.arange(n, dtype="int64") + 1000 * seed)
    return frame


@dataclass(frozen=True)
class Registered:
    name: str
    version: int
    estimator: Any


def register_model(settings: Any, name: str, estimator: Any, example: pd.DataFrame, alias: str | None = "champion",
                   tags: dict[str, str] | None = None) -> Registered:
    """Fit-free registration in the platform format: mlflow.sklearn directory (cloudpickle) under run artifact ``model/``."""
    import tempfile
    import warnings

    import mlflow
    from mlflow import MlflowClient

    from mlplatform import registry
    from mlplatform.tracking import configure, experiment_id

    configure(settings)
    client = MlflowClient()
    run = client.create_run(experiment_id("scoring-tests", settings))
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(estimator, f"{tmp}/model", serialization_format="cloudpickle", input_example=example)
        client.log_artifacts(run.info.run_id, f"{tmp}/model", registry.MODEL_ARTIFACT)
    client.set_terminated(run.info.run_id)
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(name)
    mv = client.create_model_version(name, source=f"{run.info.artifact_uri}/{registry.MODEL_ARTIFACT}",
                                     run_id=run.info.run_id, tags=tags or {})
    if alias:
        client.set_registered_model_alias(name, alias, mv.version)
    return Registered(name, int(mv.version), estimator)


def write_delta(spark: Any, frame: pd.DataFrame, uri: str, files: int = 2) -> None:
    """Write ``frame`` as a Delta table (overwrite) with ``files`` files."""
    spark.createDataFrame(frame).repartition(files).write.format("delta").mode("overwrite").save(uri)
