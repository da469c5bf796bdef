"""Toy data and estimators shared by the lifecycle tests."""

from __future__ import annotations

from typing import Any

DEFINITIONS = {
    "primary": "roc_auc",
    "higher_is_better": True,
    "thresholds": [{"metric": "roc_auc", "op": ">=", "value": 0.7}],
}
FEATURES = [f"f{i}" for i in range(5)]


def fit(kind: str, train: Any) -> Any:
    """A fitted estimator: 'good' learns the label, 'bad' learns shuffled labels."""
    from sklearn.linear_model import LogisticRegression

    y = train["label"] if kind == "good" else train["label"].sample(frac=1.0, random_state=1).to_numpy()
    return LogisticRegression(max_iter=500).fit(train[FEATURES], y)
