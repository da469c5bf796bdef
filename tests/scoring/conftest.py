"""Fixtures for batch scoring: registered models in the platform format, feature tables.

Registering a model and writing tables takes seconds, so the tests of one module
share a platform home (warehouse, MLflow store) instead of one per test; each
test uses its own model name or run date.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

FEATURES = ["f0", "f1", "f2", "f3"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scoring") / ".mlp"


@pytest.fixture(autouse=True)
def mlp_home(module_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Overrides the root fixture: one platform home per test module."""
    import os

    for var in [v for v in os.environ if v.startswith("MLP_")] + ["PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLP_PROJECT", str(REPO))
    monkeypatch.setenv("MLP_HOME", str(module_home))
    return module_home


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


@pytest.fixture(scope="module")
def hgb() -> Any:
    """A fitted HistGradientBoostingClassifier (accepts NaN) on ``make_frame`` data."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    train = make_frame(2000, seed=1)
    return HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(train[FEATURES], train["label"])
