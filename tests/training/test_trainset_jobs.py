"""Training on a real training set: version checks, the CLI, and spark-submit on local-cluster.

The local-cluster tests run ``mlp submit --profile local-cluster tune ...`` in a
subprocess: separate executor JVMs, so they can prove which Python and
scikit-learn the executors ran, and survive the loss of one.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from mlplatform.errors import TrainingError

MLP = str(Path(sys.executable).with_name("mlp"))

pytestmark = pytest.mark.slow


def _client(settings):
    from mlflow import MlflowClient

    from mlplatform.tracking.store import configure

    configure(settings)
    return MlflowClient()


def _children(client, run_id: str) -> list:
    parent = client.get_run(run_id)
    return client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'")


def test_training_set_version_that_does_not_exist(trainset, write_spec):
    from mlplatform.training.train import train

    spec = write_spec(training_set={"name": "churn", "version": 7})
    with pytest.raises(
        TrainingError, match=r"training set 'churn' \(version 7\) cannot be read: training set 'churn' has no version 7"
    ) as info:
        train(str(spec), settings=trainset, profile="no-such-profile")
    assert "versions: 0" in (info.value.hint or "")


def test_mlp_train_registers_with_training_set_tags(trainset, write_spec, mlp):
    from mlplatform import features
    from mlplatform.tracking.model_registry import TAG_FEATURE_SETS, TAG_TRAINING_SET, resolve

    spec = write_spec()
    done = mlp(["train", str(spec), "--code-version", "v-test"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "registered model:churn@1 (alias challenger)" in done.stdout
    info = resolve("churn@challenger", trainset)
    manifest = features.trainset_manifest("churn", settings=trainset)
    assert info.tags[TAG_TRAINING_SET] == "ts:churn@v0"
    assert json.loads(info.tags[TAG_FEATURE_SETS]) == [f["id"] for f in manifest["features"].values()]
    from mlplatform.tracking.model_registry import download, input_schema

    columns = [c["name"] for c in input_schema(download(info, Path(trainset.home) / "dl", trainset))]
    assert columns == ["plan", "region", "age", "monthly_fee"]  # keys and label time are not features


def test_mlp_train_missed_threshold_exits_2(trainset, write_spec, mlp):
    spec = write_spec(metrics={"primary": "roc_auc", "thresholds": ["roc_auc >= 0.999"]})
    done = mlp(["train", str(spec)])
    assert done.returncode == 2, done.stderr[-3000:]
    assert (
        "model 'churn' not registered: held-out roc_auc = " in done.stderr
        and "bar roc_auc >= 0.999 (missed by" in done.stderr
    )


def _submit(args: list[str]) -> list[str]:
    return [MLP, "submit", "--profile", "local-cluster", *args]


def test_executors_run_the_environments_scikit_learn(trainset, write_spec, sklearn_env, monkeypatch, tmp_path):
    import sklearn
    import yaml

    from mlplatform import envs, tables
    from mlplatform.config import load_settings
    from mlplatform.lineage import lineage_table
    from mlplatform.tracking.model_registry import TAG_DECISION_THRESHOLD, TAG_ENV_ID, download, resolve

    artifact, artifacts_root = sklearn_env
    env_sklearn = artifact.packages["scikit-learn"]
    assert env_sklearn != sklearn.__version__
    monkeypatch.setenv("MLP_ARTIFACTS", str(artifacts_root))
    settings = load_settings()
    spec = write_spec(env="sklearn")
    out = tmp_path / "result.json"
    import subprocess

    done = subprocess.run(
        _submit(["--env", "sklearn", "tune", str(spec), "--out", str(out)]), capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["executor"]["packages"]["scikit-learn"] == env_sklearn
    assert result["executor"]["executable"].endswith("environment/bin/python")

    run = _client(settings).get_run(result["run_id"])
    assert run.data.tags["mlp.executor.sklearn"] == env_sklearn
    info = resolve("churn@challenger", settings)
    assert info.tags[TAG_ENV_ID] == artifact.id
    model_dir = download(info, tmp_path / "model", settings)
    assert yaml.safe_load((model_dir / "MLmodel").read_text())["flavors"]["sklearn"]["sklearn_version"] == env_sklearn
    assert f"scikit-learn=={env_sklearn}" in (model_dir / "requirements.txt").read_text().split()
    # the environment's scikit-learn loads the model: the refit pipeline inside a FixedThresholdClassifier
    python = envs.unpack(artifact, settings, dest=tmp_path / "env") / "bin" / "python"
    check = (
        "import sys, json, cloudpickle, numpy as np, pandas as pd, sklearn\n"
        "m = cloudpickle.load(open(sys.argv[1], 'rb'))\n"
        "X = pd.read_json(sys.argv[2], orient='split')\n"
        "ok = (m.predict(X) == m.classes_[(m.predict_proba(X)[:, 1] >= m.threshold).astype(int)]).all()\n"
        "print(json.dumps([sklearn.__version__, type(m).__name__, float(m.threshold), bool(ok)]))\n"
    )
    loaded = subprocess.run(
        [str(python), "-c", check, str(model_dir / "model.pkl"), str(model_dir / "input_example.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert json.loads(loaded.stdout) == [
        env_sklearn,
        "FixedThresholdClassifier",
        float(info.tags[TAG_DECISION_THRESHOLD]),
        True,
    ]
    edges = tables.to_pandas(lineage_table(settings))
    assert (artifact.id, "environment", "model:churn@1") in set(
        zip(edges["from_id"], edges["relation"], edges["to_id"])
    )


def _executor_jvms(work: Path) -> list[int]:
    """Executor JVMs of local-cluster applications whose working directory is under ``work``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if b"CoarseGrainedExecutorBackend" in cmdline and cwd.startswith(str(work)):
            found.append(int(entry.name))
    return found


def _python_workers_of(pid: int) -> list[int]:
    """PySpark daemons started by JVM ``pid``: they exist once a Python task has started there."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if parent == pid and b"pyspark.daemon" in (entry / "cmdline").read_bytes():
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def test_search_survives_losing_an_executor(trainset, write_spec, tmp_path):
    import subprocess

    space = {"model__max_depth": [4, 8, 12], "model__min_samples_leaf": [1, 5]}
    spec = write_spec(params={"model__n_estimators": 300}, search={"strategy": "grid", "space": space})
    out = tmp_path / "result.json"
    work = Path(trainset.home) / "spark-home" / "work"
    job = subprocess.Popen(
        _submit(["tune", str(spec), "--out", str(out)]), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    killed = None
    try:
        deadline = time.time() + 600
        while killed is None and time.time() < deadline and job.poll() is None:
            busy = [
                pid for pid in _executor_jvms(work) if _python_workers_of(pid)
            ]  # the search's first tasks run there
            if busy:
                time.sleep(1.5)
                os.kill(busy[0], signal.SIGKILL)
                killed = busy[0]
            time.sleep(0.2)
        output, _ = job.communicate(timeout=900)
    finally:
        if job.poll() is None:
            job.kill()
    assert killed is not None, "no executor ran a task"
    assert job.returncode == 0, output[-4000:]
    result = json.loads(out.read_text())
    assert result["retried_tasks"] >= 1 and result["trials"] == 6
    children = _children(_client(trainset), result["run_id"])
    assert sorted(int(c.data.tags["mlp.trial"]) for c in children) == list(range(6))
    for child in children:
        assert len(_client(trainset).get_metric_history(child.info.run_id, "fold_roc_auc")) == 2
