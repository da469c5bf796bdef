"""Shared fixtures.

- Every test gets its own platform home (``MLP_HOME``) under ``tmp_path``: its own
  warehouse, artifacts and MLflow store. The Delta jars stay in the project cache.
- ``spark`` is one session-scoped ``local[*]`` SparkSession with Delta. One process
  holds one SparkContext, so tests that must prove something about separate
  executors (``local-cluster``, YARN) run a job in a subprocess through ``mlp submit``.
- ``trainset_home``: a home holding a real training set ``ts:churn@v0``, built once
  per session through the feature repository (training and YARN tiers copy it).
- ``churn_warehouse``: a home holding the whole churn demo (raw tables, every feature
  set ingested), built once per session (feature and scoring tests copy it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator, Sequence

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO / "tests" / "data"  # test data kept in the repository (tests/data/delta/README.md)
MLP = str(Path(sys.executable).with_name("mlp"))

_CLEAN_VARS = [v for v in os.environ if v.startswith("MLP_")] + ["PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"]


@pytest.fixture(autouse=True)
def mlp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh platform home for each test; the project is this repository."""
    for var in _CLEAN_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLP_PROJECT", str(REPO))
    home = tmp_path / ".mlp"
    home.mkdir()
    monkeypatch.setenv("MLP_HOME", str(home))
    # Any MLflow call that bypasses the platform settings still lands in this test's store.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home}/mlflow.db")
    return home


@pytest.fixture
def settings(mlp_home: Path):
    from mlplatform.config import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator["object"]:
    """The session-wide local[*] SparkSession with delta-spark."""
    from mlplatform.config import load_settings
    from mlplatform.launch.session import session

    home = tmp_path_factory.mktemp("spark-session") / ".mlp"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_PROJECT", str(REPO))
        mp.setenv("MLP_HOME", str(home))
        spark = session(app_name="mlp-tests", conf={"spark.sql.shuffle.partitions": "4"}, settings=load_settings())
    yield spark
    spark.stop()


def run_mlp(
    args: Sequence[str], env: dict[str, str] | None = None, cwd: Path = REPO, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real ``mlp`` console script in a subprocess with the test's MLP_* variables."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([MLP, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)


@pytest.fixture
def mlp():
    """Callable that runs ``mlp ARGS...`` as a subprocess."""
    return run_mlp


CUSTOMERS = 400  # ~2.8k label rows: enough for folds, small enough for a quick ingest


@pytest.fixture(scope="session")
def trainset_home(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A platform home with a real training set ``ts:churn@v0`` (labels + the customer_profile feature set).

    Built once per session through the feature repository: raw tables from the
    seeded generator, one feature set ingested on Spark, the point-in-time join.
    """
    from mlplatform.config import load_settings
    from mlplatform.features import apply, build_trainset, ingest, load_feature_sets
    from mlplatform.features.datagen import write_raw_tables
    from mlplatform.features.definitions import LabelSource, TrainingSetSpec

    home = tmp_path_factory.mktemp("training-set") / ".mlp"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_PROJECT", str(REPO))
        mp.setenv("MLP_HOME", str(home))
        settings = load_settings()
        write_raw_tables(settings, size="tiny", customers=CUSTOMERS)
        apply(settings, [d for d in load_feature_sets() if d.name == "customer_profile"])
        ingest(spark, settings, "customer_profile")
        labels = LabelSource(
            table="raw/churn_labels", event_timestamp="label_time", keys=["customer_id"], label="churned"
        )
        build_trainset(
            TrainingSetSpec(name="churn", labels=labels, features=["customer_profile:*"], engine="pandas"), settings
        )
    return home


CHURN_CUSTOMERS = 1000  # ~50k activity rows, ~7k labels: small, yet enough for the label to be learnable


@pytest.fixture(scope="session")
def churn_warehouse(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A platform home with the churn demo data: raw tables (seeded), every definition applied and ingested."""
    from mlplatform.config import load_settings
    from mlplatform.features import apply, ingest, load_feature_sets
    from mlplatform.features.datagen import write_raw_tables

    # Delta replays its log with 50 tasks by default: far too many for these small tables.
    spark.conf.set("spark.databricks.delta.snapshotPartitions", "2")
    home = tmp_path_factory.mktemp("churn") / ".mlp"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_PROJECT", str(REPO))
        mp.setenv("MLP_HOME", str(home))
        settings = load_settings()
        write_raw_tables(settings, size="tiny", customers=CHURN_CUSTOMERS)
        apply(settings, load_feature_sets())
        for definition in load_feature_sets():
            ingest(spark, settings, definition.name)
    return home
