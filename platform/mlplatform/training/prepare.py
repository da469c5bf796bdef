"""Driver-side checks and data preparation, all before any Spark job runs.

The held-out split and the CV folds are drawn here, once, and travel with the
data as two columns, so every task (whatever scikit-learn version its
environment has) sees the same rows and a reference ``GridSearchCV`` can be run on
exactly the same folds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from mlplatform.errors import TrainingError
from mlplatform.training.executor import (
    FOLD_COLUMN,
    HOLDOUT_COLUMN,
    METRICS,
    resolve_estimator,
)
from mlplatform.training.search import grid_points
from mlplatform.training.spec import ModelSpec

__all__ = ["Prepared", "prepare", "check_estimator", "check_decision", "cv_splits"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """Feature + label columns with ``__fold__`` / ``__holdout__`` assigned."""

    frame: Any
    features: list[str]
    label: str
    classes: list[Any]


def check_estimator(spec: ModelSpec) -> None:
    """The estimator imports, accepts every parameter name and (where checkable) every grid value."""
    from sklearn.base import clone

    try:
        factory = resolve_estimator(spec.estimator)
        estimator = factory()
    except (ImportError, AttributeError, ValueError, TypeError) as exc:
        raise TrainingError(
            f"model '{spec.name}': estimator '{spec.estimator}' cannot be loaded ({type(exc).__name__}: {exc})",
            "give a dotted path to an importable class or factory, e.g. sklearn.ensemble.RandomForestClassifier",
        ) from exc
    if not hasattr(estimator, "get_params") or not hasattr(estimator, "fit"):
        raise TrainingError(
            f"model '{spec.name}': '{spec.estimator}' did not produce a scikit-learn estimator",
            "point to a class or factory of an estimator",
        )
    accepted = set(estimator.get_params(deep=True))
    unknown = sorted((set(spec.params) | set(spec.search.space)) - accepted)
    if unknown:
        raise TrainingError(
            f"model '{spec.name}': {spec.estimator} does not accept parameter(s) {', '.join(unknown)}",
            f"accepted parameters: {', '.join(sorted(accepted))}",
        )
    check_decision(spec, estimator)
    needs_score = [m for m in spec.metrics.names() if METRICS[m][1]]
    if needs_score and not (hasattr(estimator, "predict_proba") or hasattr(estimator, "decision_function")):
        raise TrainingError(
            f"model '{spec.name}': {spec.estimator} has neither predict_proba nor decision_function",
            f"metrics {needs_score} need scores",
        )
    candidates = grid_points(spec.search.space) if spec.search.strategy == "grid" else [{}]
    for params in candidates:
        try:
            model = clone(estimator).set_params(**{**spec.params, **params})
            if hasattr(model, "_validate_params"):
                model._validate_params()
        except (ValueError, TypeError) as exc:
            shown = {**spec.params, **params}
            raise TrainingError(
                f"model '{spec.name}': {spec.estimator} rejects parameters {shown}: {exc}",
                "fix the value in params or search.space",
            ) from exc


def check_decision(spec: ModelSpec, estimator: Any) -> None:
    """A ``decision`` block fits the estimator: a classifier, with probabilities for a ``fixed`` threshold.

    Raises:
        TrainingError: naming the model, the estimator and what to change in the spec.
    """
    from sklearn.base import is_classifier

    if spec.decision is None:
        return
    if not is_classifier(estimator):
        if spec.decision_given:
            raise TrainingError(
                f"model '{spec.name}': decision thresholds apply to binary classifiers, "
                f"but {spec.estimator} is not a classifier",
                "remove the decision block (or set decision: null), or use a classifier",
            )
        return
    if not (hasattr(estimator, "predict_proba") or hasattr(estimator, "decision_function")):
        raise TrainingError(
            f"model '{spec.name}': {spec.estimator} has neither predict_proba nor decision_function, "
            f"so its decision threshold ({spec.decision.describe()}) cannot be applied",
            "set decision: null to keep its own predict, or use a classifier with scores",
        )
    if spec.decision.fixed is not None and not hasattr(estimator, "predict_proba"):
        raise TrainingError(
            f"model '{spec.name}': decision fixed {spec.decision.fixed:g} is a probability, "
            f"but {spec.estimator} has no predict_proba",
            "tune the threshold instead (decision: {objective: f1}) or use a classifier with predict_proba",
        )


def _columns(spec: ModelSpec, frame: Any, exclude: tuple[str, ...]) -> list[str]:
    columns = list(frame.columns)
    if spec.label not in columns:
        raise TrainingError(
            f"model '{spec.name}': label column '{spec.label}' is not in training set '{spec.training_set.name}'",
            f"its columns are: {', '.join(map(str, columns))}",
        )
    if spec.features is not None:
        missing = [c for c in spec.features if c not in columns]
        if missing:
            raise TrainingError(
                f"model '{spec.name}': feature column(s) {', '.join(missing)} "
                f"are not in training set '{spec.training_set.name}'",
                f"its columns are: {', '.join(map(str, columns))}",
            )
        features = list(spec.features)
    else:
        skip = {spec.label, *spec.exclude, *exclude}
        features = [c for c in columns if c not in skip]
    if spec.label in features:
        raise TrainingError(
            f"model '{spec.name}': the label '{spec.label}' is also listed as a feature", "remove it from features"
        )
    if not features:
        raise TrainingError(f"model '{spec.name}': no feature columns left", "list features or shorten exclude")
    return features


def cv_splits(spec: ModelSpec) -> Any:
    """The scikit-learn splitter the spec describes."""
    from sklearn.model_selection import KFold, StratifiedKFold

    kind = StratifiedKFold if spec.cv.stratified else KFold
    seed = spec.cv.seed if spec.cv.shuffle else None
    return kind(n_splits=spec.cv.folds, shuffle=spec.cv.shuffle, random_state=seed)


def prepare(spec: ModelSpec, frame: Any, exclude: tuple[str, ...] = ()) -> Prepared:
    """Select columns, check the label, draw the held-out split and the CV folds.

    ``exclude`` adds columns that are never features (the training set's keys and event time).

    Raises:
        TrainingError: missing columns, a label that is not binary, too few rows per class.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    features = _columns(spec, frame, exclude)
    data = frame[features + [spec.label]].reset_index(drop=True)
    y = data[spec.label]
    if y.isna().any():
        raise TrainingError(
            f"model '{spec.name}': label '{spec.label}' has {int(y.isna().sum())} missing values",
            "drop or fill them in the training set",
        )
    classes = sorted(y.unique().tolist())
    if len(classes) != 2:
        also = " (and so does its decision block: thresholds are for binary labels)" if spec.decision_given else ""
        raise TrainingError(
            f"model '{spec.name}': label '{spec.label}' has {len(classes)} classes {classes[:5]}",
            f"binary classification needs exactly two label values{also}",
        )
    smallest = int(y.value_counts().min())
    needed = spec.cv.folds + 2
    if smallest < needed:
        raise TrainingError(
            f"model '{spec.name}': the rarer class of '{spec.label}' has {smallest} rows",
            f"need at least {needed} for {spec.cv.folds} folds plus a held-out split",
        )
    index = np.arange(len(data))
    train_idx, holdout_idx = train_test_split(
        index, test_size=spec.holdout.fraction, random_state=spec.holdout.seed, stratify=y
    )
    folds = np.full(len(data), -1, dtype="int32")
    holdout = np.zeros(len(data), dtype=bool)
    holdout[holdout_idx] = True
    train_idx = np.sort(train_idx)
    for fold, (_, test) in enumerate(cv_splits(spec).split(train_idx, y.iloc[train_idx])):
        folds[train_idx[test]] = fold
    data[FOLD_COLUMN] = folds
    data[HOLDOUT_COLUMN] = holdout
    log.info(
        "model %s: %d training rows in %d folds, %d held out",
        spec.name,
        len(train_idx),
        spec.cv.folds,
        len(holdout_idx),
    )
    return Prepared(frame=data, features=features, label=spec.label, classes=classes)
