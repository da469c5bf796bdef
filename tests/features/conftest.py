"""Fixtures for the feature repository: the churn demo data, generated and ingested once.

``churn_warehouse`` (tests/conftest.py) builds a platform home once per session (raw
tables from the seeded generator, definitions applied, every feature set ingested on the
shared Spark session); ``churn`` copies it into the test's own home, so tests can add
data and build training sets without seeing each other's writes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def churn(churn_warehouse: Path, mlp_home: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings of a private copy of the ingested churn warehouse."""
    from mlplatform.config import load_settings

    shutil.copytree(churn_warehouse, mlp_home, symlinks=True, dirs_exist_ok=True)
    monkeypatch.setenv("MLP_HOME", str(mlp_home))
    return load_settings()
