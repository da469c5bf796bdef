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


def register_model(
    settings: Any,
    name: str,
    estimator: Any,
    example: pd.DataFrame,
    alias: str | None = "champion",
    tags: dict[str, str] | None = None,
) -> Registered:
    """Fit-free registration in the platform format.

    That is an mlflow.sklearn directory (cloudpickle) under run artifact ``model/``.
    """
    import tempfile
    import warnings

    import mlflow
    from mlflow import MlflowClient

    from mlplatform.tracking import model_registry
    from mlplatform.tracking.store import configure, experiment_id

    configure(settings)
    client = MlflowClient()
    run = client.create_run(experiment_id("scoring-tests", settings))
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(estimator, f"{tmp}/model", serialization_format="cloudpickle", input_example=example)
        client.log_artifacts(run.info.run_id, f"{tmp}/model", model_registry.MODEL_ARTIFACT)
    client.set_terminated(run.info.run_id)
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(name)
    mv = client.create_model_version(
        name, source=f"{run.info.artifact_uri}/{model_registry.MODEL_ARTIFACT}", run_id=run.info.run_id, tags=tags or {}
    )
    if alias:
        client.set_registered_model_alias(name, alias, mv.version)
    return Registered(name, int(mv.version), estimator)


def write_delta(spark: Any, frame: pd.DataFrame, uri: str, files: int = 2) -> None:
    """Write ``frame`` as a Delta table (overwrite) with ``files`` files."""
    spark.createDataFrame(frame).repartition(files).write.format("delta").mode("overwrite").save(uri)


class SlowModel:
    """Wraps a classifier: each call on more than 100 rows drops a marker file, then sleeps.

    Lets a test act while the scoring stage runs (kill an executor, kill the job), and
    drops a ``load-<pid>-...`` marker each time it is unpickled. Registered with
    ``cloudpickle.register_pickle_by_value`` so executors need no test code.
    """

    def __init__(self, inner: Any, seconds: float, markers: str) -> None:
        self.inner = inner
        self.seconds = seconds
        self.markers = markers
        self.classes_ = inner.classes_

    def __setstate__(self, state: dict[str, Any]) -> None:
        import os
        import uuid

        self.__dict__.update(state)
        open(os.path.join(self.markers, f"load-{os.getpid()}-{uuid.uuid4().hex[:8]}"), "w").close()

    def _mark(self, X: Any) -> None:
        import os
        import time
        import uuid

        if len(X) > 100:
            open(os.path.join(self.markers, f"{os.getpid()}-{uuid.uuid4().hex[:8]}"), "w").close()
            time.sleep(self.seconds)

    def predict_proba(self, X: Any) -> Any:
        self._mark(X)
        return self.inner.predict_proba(X)

    def predict(self, X: Any) -> Any:
        return self.inner.predict(X)


def registered_input(
    home: Path, spark: Any, model: Any, name: str, rows: int, seed: int, files: int, tags: dict[str, str] | None = None
) -> dict[str, Any]:
    """``model`` registered as ``name@champion`` in ``home`` and a ``files``-file Delta input of ``rows`` rows."""
    import pytest

    from mlplatform.config import load_settings

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_HOME", str(home))
        settings = load_settings()
        frame = make_frame(rows, seed=seed)
        uri = f"{settings.warehouse}/inputs/{name}"
        write_delta(spark, frame, uri, files=files)
        version = register_model(settings, name, model, frame[FEATURES].head(5), tags=tags)
    return {"uri": uri, "frame": frame, "model": version}


def ancestors(pid: int) -> list[int]:
    """``pid``'s parent, grandparent, ... (from /proc)."""
    chain = []
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
        chain.append(pid)
    return chain


def descendants(pid: int) -> dict[int, str]:
    """Processes below ``pid`` (from /proc): pid -> command line."""
    import os

    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found: dict[int, str] = {}
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            try:
                with open(f"/proc/{child}/cmdline", "rb") as fh:
                    found[child] = fh.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            stack.append(child)
    return found


ENV_TRAIN_SCRIPT = """
import json, sys
import cloudpickle, numpy as np, pandas as pd, sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
train, score, out = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2]), sys.argv[3]
features = json.loads(sys.argv[4])
model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(train[features], train["label"])
open(out + "/model.pkl", "wb").write(cloudpickle.dumps(model))
np.save(out + "/prediction.npy", model.predict(score[features]))
np.save(out + "/probability.npy", model.predict_proba(score[features])[:, 1])
json.dump({"sklearn": sklearn.__version__, "example": model.predict(train[features].head(5)).tolist()},
          open(out + "/info.json", "w"))
"""
