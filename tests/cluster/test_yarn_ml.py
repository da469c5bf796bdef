"""The ML jobs on YARN: tuning that scales out from zero executors, nightly scoring in cluster mode.

- ``tune`` in client mode with dynamic allocation starting from zero executors
  (``spark.dynamicAllocation.shuffleTracking.enabled``, no external shuffle service):
  Spark's own event log shows the executors YARN added, and MLflow holds every
  trial once.
- ``scripts/nightly-score`` with ``profile: yarn`` and ``spark_conf:
  {spark.submit.deployMode: cluster}``: the driver runs in YARN (the platform's
  driver env) and writes exactly the rows a ``local`` run writes. The ``local`` run
  has ``HADOOP_CONF_DIR`` set too (HDFS is the default file system) and still finds
  its local warehouse.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from cluster_support import REPO, submit

pytestmark = pytest.mark.cluster

GRID = [2, 3, 4, 5, 6, 8]
DYNAMIC = {
    "spark.dynamicAllocation.enabled": "true",
    "spark.dynamicAllocation.shuffleTracking.enabled": "true",
    "spark.dynamicAllocation.minExecutors": "0",
    "spark.dynamicAllocation.initialExecutors": "0",
    "spark.dynamicAllocation.maxExecutors": "3",
    "spark.dynamicAllocation.schedulerBacklogTimeout": "1s",
    "spark.dynamicAllocation.sustainedSchedulerBacklogTimeout": "1s",
    "spark.executor.instances": "0",
}


@pytest.fixture(scope="module")
def yarn_ml(
    trainset_home: Path, cluster, cluster_mode: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A private home with ``ts:churn@v0``, environments on HDFS, and ``churn`` tuned on YARN."""
    root = tmp_path_factory.mktemp("yarn-ml")
    home = root / ".mlp"
    shutil.copytree(trainset_home, home, symlinks=True)
    env = {**cluster_mode, "MLP_HOME": str(home), "MLFLOW_TRACKING_URI": f"sqlite:///{home}/mlflow.db"}
    spec = root / "churn.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "training_set": {"name": "churn"},
                "label": "churned",
                "exclude": ["customer_id", "label_time"],
                "estimator": "mlplatform.training.pipelines:random_forest",
                "params": {"model__n_estimators": 20},
                "search": {"strategy": "grid", "space": {"model__max_depth": GRID}},
                "cv": {"folds": 2},
                "metrics": {"primary": "roc_auc", "thresholds": ["roc_auc >= 0.3"]},
                "env": "sklearn",
            }
        )
    )
    events = root / "events"
    events.mkdir()
    conf = {
        **DYNAMIC,
        "spark.eventLog.enabled": "true",
        "spark.eventLog.rolling.enabled": "false",
        "spark.eventLog.compress": "false",
        "spark.eventLog.dir": events.as_uri(),
    }
    args = [arg for key, value in conf.items() for arg in ("--spark-conf", f"{key}={value}")]
    out = root / "tune.json"
    done = submit(cluster, ["--env", "sklearn", *args, "tune", str(spec), "--out", str(out)], env=env, timeout=1200)
    return {"env": env, "home": home, "done": done, "out": out, "events": events, "root": root}


def _events(folder: Path) -> list[dict[str, Any]]:
    logs = list(folder.iterdir())
    assert len(logs) == 1, logs
    return [json.loads(line) for line in logs[0].read_text().splitlines()]


def test_tuning_scales_out_from_zero_executors_and_records_every_trial_once(yarn_ml: dict[str, Any]) -> None:
    from mlflow import MlflowClient

    done = yarn_ml["done"]
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(yarn_ml["out"].read_text())
    assert result["executor"]["executable"].endswith("environment/bin/python")

    events = _events(yarn_ml["events"])
    props = next(e for e in events if e["Event"] == "SparkListenerEnvironmentUpdate")["Spark Properties"]
    assert (
        props["spark.dynamicAllocation.initialExecutors"] == "0" and props["spark.dynamicAllocation.enabled"] == "true"
    )
    # Started with none; the backlog of 12 tasks (6 trials x 2 folds) made YARN add more than one.
    added = {e["Executor ID"] for e in events if e["Event"] == "SparkListenerExecutorAdded"}
    assert len(added) >= 2, added

    client = MlflowClient(yarn_ml["env"]["MLFLOW_TRACKING_URI"])
    parent = client.get_run(result["run_id"])
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{result['run_id']}'")
    depths = sorted(int(run.data.params["model__max_depth"]) for run in children)
    assert depths == GRID


def _nightly(yarn_ml: dict[str, Any], cluster, run_date: str, config: dict[str, Any]) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    from mlplatform.config import load_settings
    from mlplatform.scoring import results

    path = yarn_ml["root"] / f"scoring-{run_date}.yaml"
    path.write_text(
        yaml.safe_dump({**config, "models": [{"model": "churn", "alias": "challenger", "input": "customer_profile"}]})
    )
    env = {**os.environ, **cluster.env, **yarn_ml["env"], "MLP_PROJECT": str(REPO)}
    done = subprocess.run(
        [str(REPO / "scripts" / "nightly-score"), run_date, "--config", str(path)],
        capture_output=True,
        text=True,
        env={**env, "MLP_PYTHON": sys.executable},
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "churn@challenger: ok" in done.stderr
    yarn_app = re.search(r"YARN application \S+ \(mlp-score-churn\) ended (\S+ / \S+)", done.stderr)
    assert (yarn_app.group(1) if yarn_app else None) == (
        "FINISHED / SUCCEEDED" if config["profile"] == "yarn" else None
    )
    settings = load_settings(environ=env)
    frame = results.read("churn", run_date=run_date, settings=settings)
    return frame.sort_values("customer_id").reset_index(drop=True)


def test_nightly_scoring_in_cluster_mode_writes_the_rows_of_a_local_run(yarn_ml: dict[str, Any], cluster) -> None:  # type: ignore[no-untyped-def]
    assert yarn_ml["done"].returncode == 0, "tuning failed: see the tuning test"
    local = _nightly(yarn_ml, cluster, "2024-06-01", {"profile": "local"})
    on_yarn = _nightly(
        yarn_ml,
        cluster,
        "2024-06-02",
        {"profile": "yarn", "spark_conf": {"spark.submit.deployMode": "cluster", "spark.executor.instances": "1"}},
    )
    assert len(local) > 100
    varying = ["run_date", "scoring_run_id", "scored_at"]
    pd.testing.assert_frame_equal(on_yarn.drop(columns=varying), local.drop(columns=varying))
