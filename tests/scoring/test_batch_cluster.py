"""Batch scoring as the scheduler runs it: ``mlp score`` on local-cluster (separate executor JVMs).

- a lost executor is retried by Spark and the result has exactly the input's rows;
- a run killed midway leaves the previous result of its run date;
- executors run the model's environment (an env whose scikit-learn differs from
  the driver's), and the scores equal the predictions made inside that environment;
- ``scripts/nightly-score`` scores the models it can and exits 1 for the others.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scoring_support import (
    ENV_TRAIN_SCRIPT,
    FEATURES,
    REPO,
    SlowModel,
    descendants,
    make_frame,
    register_model,
    write_delta,
)

pytestmark = pytest.mark.slow

MLP = str(Path(sys.executable).with_name("mlp"))
CACHE = REPO / ".mlp" / "test-cache" / "scoring"
ROWS, FILES = 24_000, 16


@pytest.fixture(scope="module")
def cluster_input(spark: Any, module_home: Path) -> dict[str, Any]:
    """A 24,000-row input table in 16 files (16 tasks of one Arrow batch each)."""
    frame = make_frame(ROWS, seed=11)
    uri = str(module_home / "warehouse" / "inputs" / "cluster")
    write_delta(spark, frame, uri, files=FILES)
    return {"uri": uri, "frame": frame}


@pytest.fixture(scope="module")
def slow_model(hgb: Any, module_home: Path, cluster_input: dict[str, Any]) -> Path:
    """churn_slow@champion: one second per batch, dropping a marker file when a batch starts."""
    import cloudpickle
    import scoring_support

    from mlplatform.config import load_settings

    markers = module_home / "markers"
    markers.mkdir(parents=True)
    cloudpickle.register_pickle_by_value(scoring_support)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLP_HOME", str(module_home))
            mp.setenv("MLP_PROJECT", str(REPO))
            register_model(
                load_settings(),
                "churn_slow",
                SlowModel(hgb, 1.0, str(markers)),
                cluster_input["frame"][FEATURES].head(5),
            )
    finally:
        cloudpickle.unregister_pickle_by_value(scoring_support)
    return markers


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen([MLP, *args], stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)


def _wait_for_marker(markers: Path, proc: subprocess.Popen[bytes], log: Path, timeout: float = 900) -> None:
    """Until a scoring batch (not a model load) has started."""
    deadline = time.monotonic() + timeout
    while not any(not m.name.startswith("load-") for m in markers.iterdir()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"scoring never started (exit {proc.poll()}):\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def _parent(pid: int) -> int:
    # /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ")".
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _executor_running_a_batch(markers: Path, executors: list[int]) -> int:
    """The executor JVM whose Python worker wrote a batch marker (so the kill hits a running task)."""
    for marker in markers.iterdir():
        if marker.name.startswith("load-"):
            continue
        pid = int(marker.name.split("-")[0])
        try:
            while pid > 1:
                if pid in executors:
                    return pid
                pid = _parent(pid)
        except (FileNotFoundError, ValueError):
            continue
    return executors[0]


def _clear(markers: Path) -> None:
    for marker in markers.iterdir():
        marker.unlink()


def _score_args(model: str, uri: str, day: str, summary: Path) -> list[str]:
    return ["score", model, "--input", uri, "--run-date", day, "--profile", "local-cluster", "--summary", str(summary)]


def test_lost_executor_is_retried_without_duplicate_rows(
    cluster_input: dict[str, Any], slow_model: Path, tmp_path: Path
) -> None:
    from mlplatform.scoring import results

    _clear(slow_model)
    log = tmp_path / "job.log"
    proc = _start(_score_args("churn_slow@champion", cluster_input["uri"], "2024-05-01", tmp_path / "s.json"), log)
    _wait_for_marker(slow_model, proc, log)
    executors = [pid for pid, cmd in descendants(proc.pid).items() if "CoarseGrainedExecutorBackend" in cmd]
    assert len(executors) == 2, descendants(proc.pid)
    os.kill(_executor_running_a_batch(slow_model, executors), signal.SIGKILL)
    assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]

    summary = json.loads((tmp_path / "s.json").read_text())
    scores = results.read("churn_slow", run_date="2024-05-01")
    assert summary["rows"] == len(scores) == ROWS
    assert scores["customer_id"].is_unique
    assert set(scores["customer_id"]) == set(cluster_input["frame"]["customer_id"])
    batches = [m.name.split("-")[0] for m in slow_model.iterdir() if not m.name.startswith("load-")]
    loads = [m.name.split("-")[1] for m in slow_model.iterdir() if m.name.startswith("load-")]
    assert batches, "no batch was scored"
    # Spark reports the running task lost with its executor and runs it again elsewhere.
    assert "Lost task" in log.read_text(), log.read_text()[-3000:]
    assert sorted(loads) == sorted(set(loads)) and set(batches) <= set(loads)  # unpickled once per Python worker


def test_killed_run_leaves_the_previous_result(cluster_input: dict[str, Any], slow_model: Path, tmp_path: Path) -> None:
    from mlplatform import tables
    from mlplatform.config import load_settings
    from mlplatform.scoring import batch, results

    table = batch.scores_uri(load_settings(), "churn_slow")
    before_version = tables.version(table)
    before = results.read("churn_slow", run_date="2024-05-01").sort_values("customer_id").reset_index(drop=True)
    _clear(slow_model)
    log = tmp_path / "job.log"
    proc = _start(_score_args("churn_slow@champion", cluster_input["uri"], "2024-05-01", tmp_path / "s.json"), log)
    _wait_for_marker(slow_model, proc, log)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)

    assert tables.version(table) == before_version
    after = results.read("churn_slow", run_date="2024-05-01").sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(after, before)


def _env_spec() -> Path:
    from importlib.metadata import version

    pins = "".join(f"  - {pkg}=={version(pkg)}\n" for pkg in ("pandas", "numpy", "pyarrow", "cloudpickle"))
    text = f'name: scoring-test\npython: "3.11"\nbuilder: venv\npackages:\n  - scikit-learn==1.7.2\n{pins}'
    path = CACHE / "envs" / "scoring-test.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


@pytest.fixture(scope="module")
def env_model(module_home: Path, cluster_input: dict[str, Any]) -> dict[str, Any]:
    """churn_env@champion fitted and pickled inside an env with scikit-learn 1.7.2 (the driver has another)."""
    from mlflow import MlflowClient

    from mlplatform import envs
    from mlplatform.config import load_settings
    from mlplatform.tracking import model_registry
    from mlplatform.tracking.store import configure, experiment_id
    from mlplatform.training.modeldir import write_model_dir

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_HOME", str(module_home))
        mp.setenv("MLP_PROJECT", str(REPO))
        mp.setenv("MLP_ARTIFACTS", str(CACHE / "artifacts"))
        settings = load_settings()
        artifact = envs.build(_env_spec(), settings)
        python = envs.unpack(artifact, settings, CACHE / "unpacked" / artifact.hash) / "bin" / "python"
        work = module_home / "env-model"
        work.mkdir()
        train = make_frame(2000, seed=1)
        train.to_parquet(work / "train.parquet")
        cluster_input["frame"].to_parquet(work / "score.parquet")
        subprocess.run(
            [
                str(python),
                "-c",
                ENV_TRAIN_SCRIPT,
                str(work / "train.parquet"),
                str(work / "score.parquet"),
                str(work),
                json.dumps(FEATURES),
            ],
            check=True,
            capture_output=True,
        )
        info = json.loads((work / "info.json").read_text())
        model_dir = write_model_dir(
            work / "model",
            (work / "model.pkl").read_bytes(),
            train[FEATURES].head(5),
            info["example"],
            info["sklearn"],
            artifact.python_version,
            [f"{k}=={v}" for k, v in sorted(artifact.packages.items())],
        )
        configure(settings)
        client = MlflowClient()
        run = client.create_run(experiment_id("scoring-tests", settings))
        client.log_artifacts(run.info.run_id, str(model_dir), model_registry.MODEL_ARTIFACT)
        client.create_registered_model("churn_env")
        mv = client.create_model_version(
            "churn_env",
            f"{run.info.artifact_uri}/{model_registry.MODEL_ARTIFACT}",
            run.info.run_id,
            tags={model_registry.TAG_ENV_ID: artifact.id},
        )
        client.set_registered_model_alias("churn_env", "champion", mv.version)
    return {
        "env_id": artifact.id,
        "sklearn": info["sklearn"],
        "prediction": np.load(work / "prediction.npy"),
        "probability": np.load(work / "probability.npy"),
        "env": {"MLP_ARTIFACTS": str(CACHE / "artifacts")},
    }


def test_executors_score_in_the_models_environment(
    cluster_input: dict[str, Any], env_model: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib.metadata import version

    from mlplatform import lineage, tables
    from mlplatform.config import load_settings
    from mlplatform.scoring import results

    monkeypatch.setenv("MLP_ARTIFACTS", env_model["env"]["MLP_ARTIFACTS"])
    args = _score_args("churn_env@champion", cluster_input["uri"], "2024-05-02", tmp_path / "s.json")
    printed = subprocess.run([MLP, *args, "--print"], capture_output=True, text=True, cwd=REPO)
    assert printed.returncode == 0, printed.stderr
    assert (
        "#environment" in printed.stdout and "churn_env@1" in printed.stdout and "--input-version 0" in printed.stdout
    )

    log = tmp_path / "job.log"
    proc = _start(args, log)
    assert proc.wait(timeout=900) == 0, log.read_text()[-3000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    worker = summary["worker"]
    assert Path(worker["prefix"]).name == "environment" and "spark-home/work" in worker["cwd"]
    assert worker["packages"]["scikit-learn"] == env_model["sklearn"] == "1.7.2" != version("scikit-learn")

    frame = cluster_input["frame"]
    scores = results.read("churn_env").set_index("customer_id").loc[frame["customer_id"]]
    np.testing.assert_array_equal(scores["prediction"].to_numpy(), env_model["prediction"])
    np.testing.assert_array_equal(scores["probability"].to_numpy(), env_model["probability"])
    assert set(scores["env_id"]) == {env_model["env_id"]}
    edges = tables.to_pandas(lineage.lineage_table(load_settings()), filters=[("job_run", "=", summary["run_id"])])
    assert (env_model["env_id"], "environment", summary["scores_id"]) in set(
        zip(edges["from_id"], edges["relation"], edges["to_id"])
    )


def test_nightly_scores_what_it_can_and_exits_non_zero(
    spark: Any, hgb: Any, settings: Any, cluster_input: dict[str, Any], tmp_path: Path
) -> None:
    from mlplatform.scoring import results

    register_model(settings, "churn_nightly", hgb, cluster_input["frame"][FEATURES].head(5))
    bad = str(tmp_path / "no_f3")
    write_delta(spark, cluster_input["frame"].drop(columns="f3").head(100), bad, files=1)
    config = tmp_path / "scoring.yaml"
    config.write_text(
        "profile: local\nmodels:\n"
        f"  - model: churn_nightly\n    input: {cluster_input['uri']}\n    keys: [customer_id]\n"
        f"  - model: churn_missing\n    input: {cluster_input['uri']}\n"
        f"  - model: churn_nightly\n    input: {bad}\n"
    )
    run = subprocess.run(
        [str(REPO / "scripts" / "nightly-score"), "2024-05-03", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 1, run.stderr
    lines = [line for line in run.stderr.splitlines() if " nightly-score " in line]
    assert any(
        "churn_nightly@champion: ok" in line and f"{ROWS} rows -> scores:churn_nightly@v0" in line for line in lines
    ), run.stderr
    assert any(
        "churn_missing@champion: FAILED" in line and "no model named 'churn_missing'" in line for line in lines
    ), run.stderr
    assert any("churn_nightly@champion: FAILED" in line and "missing feature column(s) f3" in line for line in lines), (
        run.stderr
    )
    assert "3 model(s)" in lines[0] and "1 scored, 2 failed" in lines[-1]
    scores = results.read("churn_nightly", run_date="2024-05-03")
    assert len(scores) == ROWS and list(scores.columns[:3]) == ["customer_id", "prediction", "probability"]
