"""Fixtures for training tests.

- ``frame`` / ``make_spec``: a synthetic binary classification frame and spec dicts (fast tests).
- ``trainset``: a private copy of the session's ``trainset_home`` (tests/conftest.py).
- ``sklearn_env``: the demo environment built once (cached) for local-cluster tests.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml


@pytest.fixture(scope="session")
def frame():
    """600 rows, 6 numeric features, binary label 'label' (deterministic)."""
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=600, n_features=6, n_informative=4, random_state=0)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    df["label"] = y
    return df


def _spec_dict(**overrides: Any) -> dict[str, Any]:
    """A valid small spec (decision tree grid) with top-level keys replaced by ``overrides``."""
    base: dict[str, Any] = {
        "name": "toy",
        "training_set": {"name": "toy"},
        "label": "label",
        "estimator": "sklearn.tree.DecisionTreeClassifier",
        "params": {"random_state": 0},
        "search": {"strategy": "grid", "space": {"max_depth": [2, 4, None], "min_samples_leaf": [1, 5]}},
        "cv": {"folds": 3, "seed": 0},
        "metrics": {"primary": "roc_auc", "thresholds": ["roc_auc >= 0.6"]},
    }
    base.update(overrides)
    return base


@pytest.fixture
def spec_dict():
    """Callable: a valid spec dict with top-level keys replaced."""
    return _spec_dict


@pytest.fixture
def make_spec():
    """Callable: a validated ModelSpec with top-level keys replaced."""
    from mlplatform.training.spec import load_spec

    return lambda **overrides: load_spec(data=_spec_dict(**overrides))


REPO = Path(__file__).resolve().parents[2]
ENV_CACHE = REPO / ".mlp" / "test-cache" / "training-envs"


@pytest.fixture
def trainset(trainset_home: Path, mlp_home: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings of a private copy of the home holding ``ts:churn@v0``."""
    from mlplatform.config import load_settings

    shutil.copytree(trainset_home, mlp_home, symlinks=True, dirs_exist_ok=True)
    monkeypatch.setenv("MLP_HOME", str(mlp_home))
    return load_settings()


@pytest.fixture(scope="session")
def sklearn_env():
    """The demo environment (envs/sklearn.yaml, scikit-learn 1.7.2), built once and cached under .mlp/test-cache."""
    from mlplatform import envs
    from mlplatform.config import load_settings

    home = ENV_CACHE / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_PROJECT", str(REPO))
        mp.setenv("MLP_HOME", str(home))
        artifact = envs.build("sklearn", load_settings())
    return artifact, home / "artifacts"


@pytest.fixture
def write_spec(tmp_path: Path):
    """Callable: write a churn model spec (tiny random forest grid) with overrides; return its path."""

    def write(**overrides: Any) -> Path:
        spec: dict[str, Any] = {
            "training_set": {"name": "churn"},
            "label": "churned",
            "estimator": "mlplatform.training.pipelines:random_forest",
            "params": {"model__n_estimators": 20},
            "search": {"strategy": "grid", "space": {"model__max_depth": [3, 6]}},
            "cv": {"folds": 2},
            "metrics": {"primary": "roc_auc", "thresholds": ["roc_auc >= 0.3"]},
        }
        spec.update(overrides)
        path = tmp_path / "specs" / f"{overrides.get('name', 'churn')}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({k: v for k, v in spec.items() if k != "name"}))
        return path

    return write
