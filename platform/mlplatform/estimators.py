"""What the platform knows of an estimator's class without calling it.

Imported by executor-side code (batch scoring's workers, the training tasks), so it uses
only the standard library.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PREDICT_IS_ARGMAX_PROBA", "final_estimator_name", "predict_is_argmax_proba"]

# Estimators whose ``predict`` is exactly ``classes_[argmax(predict_proba)]``: for these
# one ``predict_proba`` call yields both outputs (a second pass would double the cost).
PREDICT_IS_ARGMAX_PROBA = frozenset(
    {
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.ExtraTreeClassifier",
    }
)


def final_estimator_name(model: Any) -> str:
    """``module.QualName`` of the model's class, or of its last step when it is a ``Pipeline``."""
    final = model
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps:
        final = steps[-1][1]
    cls = type(final)
    return f"{cls.__module__}.{cls.__qualname__}"


def predict_is_argmax_proba(model: Any) -> bool:
    """Whether ``model.predict(X)`` is ``model.classes_[argmax(model.predict_proba(X))]`` by construction.

    A pipeline predicts with its last step on the transformed rows, so it inherits that step's answer.
    """
    return final_estimator_name(model) in PREDICT_IS_ARGMAX_PROBA
