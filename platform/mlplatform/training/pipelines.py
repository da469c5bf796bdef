"""Estimator factories for tabular data, usable as a spec's ``estimator: module:function``.

They run on executors inside the model's environment, so they use scikit-learn
only; the fitted pipeline references scikit-learn classes alone, so scoring does
not need the platform installed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["gradient_boosting", "random_forest"]

_CATEGORICAL = ["object", "string", "category", "bool"]


def _tabular(model: Any) -> Any:
    """One-hot encode text/category columns, pass numbers through, drop anything else (timestamps)."""
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    prep = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_include=_CATEGORICAL)),
            ("numeric", "passthrough", make_column_selector(dtype_include="number")),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    return Pipeline([("prep", prep), ("model", model)])


def gradient_boosting() -> Any:
    """``HistGradientBoostingClassifier`` behind the tabular preprocessing; tune ``model__*``."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return _tabular(HistGradientBoostingClassifier(random_state=0))


def random_forest() -> Any:
    """``RandomForestClassifier`` behind the tabular preprocessing (missing numbers need imputing first)."""
    from sklearn.ensemble import RandomForestClassifier

    return _tabular(RandomForestClassifier(random_state=0))
