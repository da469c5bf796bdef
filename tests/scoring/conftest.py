"""Fixtures for batch scoring: registered models in the platform format, feature tables.

Registering a model and writing tables takes seconds, so the tests of one module
share a platform home (warehouse, MLflow store) instead of one per test; each
test uses its own model name or run date.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scoring_support import FEATURES, REPO, make_frame


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


@pytest.fixture(scope="module")
def hgb() -> Any:
    """A fitted HistGradientBoostingClassifier (accepts NaN) on ``make_frame`` data."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    train = make_frame(2000, seed=1)
    return HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(train[FEATURES], train["label"])
