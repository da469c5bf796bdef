"""Fixtures for training tests: a small synthetic binary classification frame and spec dicts."""

from __future__ import annotations

from typing import Any

import pytest


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
