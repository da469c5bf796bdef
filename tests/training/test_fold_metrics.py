"""The label metrics training records equal scikit-learn's, edge cases included."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mlplatform.training.executor import metric_values

LABEL_METRICS = ["accuracy", "balanced_accuracy", "precision", "recall", "f1"]


def _sklearn(y: np.ndarray, predicted: np.ndarray, positive: object) -> dict[str, float]:
    return {
        "accuracy": skm.accuracy_score(y, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(y, predicted),
        "precision": skm.precision_score(y, predicted, pos_label=positive, zero_division=0),
        "recall": skm.recall_score(y, predicted, pos_label=positive, zero_division=0),
        "f1": skm.f1_score(y, predicted, pos_label=positive, zero_division=0),
    }


def _cases() -> list[tuple[str, np.ndarray, np.ndarray, tuple[object, object]]]:
    rng = np.random.default_rng(7)
    y = (rng.random(1000) < 0.06).astype(int)
    noisy = np.where(rng.random(1000) < 0.1, 1 - y, y)
    words = np.array(["stay", "churn"])
    return [
        ("imbalanced, noisy predictions", y, noisy, (0, 1)),
        ("never predicts the positive class", y, np.zeros_like(y), (0, 1)),
        ("always predicts the positive class", y, np.ones_like(y), (0, 1)),
        ("no positive in the labels", np.zeros(50, dtype=int), rng.integers(0, 2, 50), (0, 1)),
        ("perfect", y, y.copy(), (0, 1)),
        ("string labels", words[y], words[noisy], ("stay", "churn")),
    ]


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("name, y, predicted, classes", _cases(), ids=[c[0] for c in _cases()])
def test_label_metrics_equal_sklearn(name: str, y: np.ndarray, predicted: np.ndarray, classes: tuple) -> None:
    score = (predicted == classes[1]).astype(float)
    got = metric_values(LABEL_METRICS, y, predicted, score, None, np.array(classes, dtype=object))
    expected = _sklearn(y, predicted, classes[1])
    for metric in LABEL_METRICS:
        assert got[metric] == pytest.approx(expected[metric], abs=1e-12), f"{name}: {metric}"


def test_an_unknown_metric_is_refused() -> None:
    y = np.array([0, 1, 1, 0])
    with pytest.raises(ValueError, match="unknown metric 'lift'"):
        metric_values(["f1", "lift"], y, y, y.astype(float), None, np.array([0, 1]))
