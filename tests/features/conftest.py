"""Fixtures for the feature repository: the churn demo data, generated and ingested once.

``churn_warehouse`` builds a platform home once per session (raw tables from the
seeded generator, definitions applied, every feature set ingested on the shared
Spark session); ``churn`` copies it into the test's own home, so tests can add
data and build training sets without seeing each other's writes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CUSTOMERS = 1000  # ~50k activity rows, ~7k labels: small, yet enough for the label to be learnable


@pytest.fixture(scope="session")
def churn_warehouse(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
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
        write_raw_tables(settings, size="tiny", customers=CUSTOMERS)
        apply(settings, load_feature_sets())
        for definition in load_feature_sets():
            ingest(spark, settings, definition.name)
    return home


@pytest.fixture
def churn(churn_warehouse: Path, mlp_home: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings of a private copy of the ingested churn warehouse."""
    from mlplatform.config import load_settings

    shutil.copytree(churn_warehouse, mlp_home, symlinks=True, dirs_exist_ok=True)
    monkeypatch.setenv("MLP_HOME", str(mlp_home))
    return load_settings()
