"""What runs inside a Spark task, in the *model's* environment.

This module imports only the standard library, numpy, pandas, pyarrow,
scikit-learn and cloudpickle (never mlflow, click, pydantic or the platform's
config), because executors import it with the interpreter and packages of the
model's environment archive. Everything crossing the driver/executor boundary is
plain Python (dicts, lists, str, int, float, bytes) plus one Arrow IPC buffer, so
the driver and the environment may run different numpy, pandas and scikit-learn
versions. The fitted model leaves a task only as cloudpickle bytes; the driver
never unpickles it.

A task is a dict::

    {"kind": "cv" | "refit", "trial": int, "fold": int, "params": {...},
     "threshold": float | None}     # refit only: the decision threshold to wrap the model in

and the broadcast payload is a dict::

    {"data": <Arrow IPC stream bytes>, "data_id": <unique per broadcast>,
     "estimator": "sklearn.ensemble.RandomForestClassifier",
     "fixed_params": {...}, "features": [...], "label": "churned",
     "metrics": [...], "packages": [...],
     "decision": {"objective": "f1" | "balanced_accuracy" | "cost", "candidates": 100,
                  "fp": ..., "fn": ...} | None}

A CV task with a ``decision`` also returns the fold's ``decision_curve``: the objective at
``candidates`` thresholds evenly spaced between the fold's lowest and highest score, as
scikit-learn's ``TunedThresholdClassifierCV`` computes it; the driver averages the best
trial's curves (:func:`tuned_threshold`) and the refit task wraps the refit model in a
``FixedThresholdClassifier`` with the chosen threshold, so ``predict`` applies it wherever
the model is loaded.

where the Arrow table holds the feature and label columns plus ``__fold__``
(the CV fold a row is tested in, -1 for held-out rows) and ``__holdout__``.
"""

from __future__ import annotations

import functools
import importlib
import io
import time
import traceback
from typing import Any, Callable, Iterable, Iterator

from mlplatform.estimators import predict_is_argmax_proba
from mlplatform.probe import (
    report_from as environment_report,  # stdlib only: safe in the env
)
from mlplatform.threads import native_thread_limit

__all__ = [
    "METRICS",
    "FOLD_COLUMN",
    "HOLDOUT_COLUMN",
    "resolve_estimator",
    "build_estimator",
    "encode_frame",
    "decode_frame",
    "metric_values",
    "model_outputs",
    "run_task",
    "run_partition",
    "environment_report",
    "evaluation",
    "decision_curve",
    "tuned_threshold",
    "with_threshold",
    "unwrap",
]

FOLD_COLUMN = "__fold__"
HOLDOUT_COLUMN = "__holdout__"

# metric name -> (higher is better, needs a score/probability, description recorded with the model)
METRICS: dict[str, tuple[bool, bool, str]] = {
    "roc_auc": (
        True,
        True,
        "sklearn.metrics.roc_auc_score(y, score); score = predict_proba[:, 1] or decision_function",
    ),
    "average_precision": (True, True, "sklearn.metrics.average_precision_score(y, score, pos_label=classes_[1])"),
    "accuracy": (True, False, "sklearn.metrics.accuracy_score(y, predict(X))"),
    "balanced_accuracy": (True, False, "sklearn.metrics.balanced_accuracy_score(y, predict(X))"),
    "precision": (True, False, "sklearn.metrics.precision_score(y, predict(X), pos_label=classes_[1])"),
    "recall": (True, False, "sklearn.metrics.recall_score(y, predict(X), pos_label=classes_[1])"),
    "f1": (True, False, "sklearn.metrics.f1_score(y, predict(X), pos_label=classes_[1])"),
    "log_loss": (False, True, "sklearn.metrics.log_loss(y, predict_proba(X)); needs predict_proba"),
    "brier": (False, True, "sklearn.metrics.brier_score_loss(y, predict_proba[:, 1], pos_label=classes_[1])"),
}

_CURVE_POINTS = 201
_EXAMPLE_ROWS = 5


def resolve_estimator(path: str) -> Callable[[], Any]:
    """The class or factory named by ``module.Name`` or ``module:name``."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"'{path}' is not a dotted path such as sklearn.ensemble.RandomForestClassifier")
    module = importlib.import_module(module_name)
    target = module
    for part in attr.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"'{path}' is not a class or a factory function")
    return target


def build_estimator(path: str, params: dict[str, Any], calibration: dict[str, Any] | None = None) -> Any:
    """A fresh estimator from ``path`` (class or no-argument factory) with ``params`` set.

    ``calibration`` (``{"method": "isotonic" | "sigmoid", "folds": 3}``) wraps it in
    ``CalibratedClassifierCV``: the parameters stay those of the estimator inside.
    """
    estimator = resolve_estimator(path)()
    if params:
        estimator.set_params(**params)
    if calibration:
        from sklearn.calibration import CalibratedClassifierCV

        estimator = CalibratedClassifierCV(estimator, method=calibration["method"], cv=calibration["folds"])
    return estimator


def encode_frame(frame: Any) -> bytes:
    """An Arrow IPC stream of ``frame`` (pandas), readable by any pyarrow version."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def decode_frame(data: bytes) -> Any:
    """The pandas frame of an Arrow IPC stream written by :func:`encode_frame`."""
    import pyarrow as pa

    return pa.ipc.open_stream(io.BytesIO(data)).read_all().to_pandas()


def _scores(model: Any, X: Any) -> tuple[Any, Any]:
    """(positive-class score, full probability matrix or None)."""
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)
        return proba[:, 1], proba
    return model.decision_function(X), None


def model_outputs(model: Any, X: Any) -> dict[str, list[Any]]:
    """The model's predictions (and probabilities: the positive class's, or one list per row) on ``X``."""
    out: dict[str, list[Any]] = {"prediction": [_plain(v) for v in model.predict(X)]}
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)
        out["probability"] = proba[:, 1].tolist() if proba.shape[1] == 2 else proba.tolist()
    return out


def _metrics(
    model: Any, X: Any, y: Any, names: Iterable[str], scored: tuple[Any, Any] | None = None
) -> dict[str, float]:
    """Every metric in ``names``; ``scored`` is ``_scores(model, X)`` when the caller has it already.

    For estimators whose ``predict`` is the argmax of ``predict_proba`` the predictions come from the
    probabilities at hand, not from a second pass over the trees.
    """
    score, proba = scored if scored is not None else _scores(model, X)
    if proba is not None and predict_is_argmax_proba(model):
        import numpy as np

        predicted = model.classes_.take(np.argmax(proba, axis=1))
    else:
        predicted = model.predict(X)
    return metric_values(names, y, predicted, score, proba, model.classes_)


def metric_values(
    names: Iterable[str], y: Any, predicted: Any, score: Any, proba: Any, classes: Any
) -> dict[str, float]:
    """Every metric in ``names`` from a binary model's outputs, as training measures them.

    Args:
        y: the true labels; ``predicted``: the model's predictions.
        score: the positive class's probability (or decision function); ``proba``: the class
            probability matrix (None without predict_proba: log_loss and brier are NaN).
        classes: the model's classes, the positive one second.
    """
    from sklearn import metrics as skm

    positive = classes[1]
    names = list(names)
    labels = _label_metrics(y, predicted, positive) if _LABEL_METRICS.intersection(names) else {}
    out: dict[str, float] = {}
    for name in names:
        if name in labels:
            value = labels[name]
        elif name == "roc_auc":
            value = skm.roc_auc_score(y, score)
        elif name == "average_precision":
            value = skm.average_precision_score(y, score, pos_label=positive)
        elif name == "log_loss":
            value = skm.log_loss(y, proba, labels=classes) if proba is not None else float("nan")
        elif name == "brier":
            value = skm.brier_score_loss(y, score, pos_label=positive) if proba is not None else float("nan")
        else:
            raise ValueError(f"unknown metric '{name}'")
        out[name] = float(value)
    return out


_LABEL_METRICS = frozenset({"accuracy", "balanced_accuracy", "precision", "recall", "f1"})


def _label_metrics(y: Any, predicted: Any, positive: Any) -> dict[str, float]:
    """The metrics of a binary model's predictions from their four counts, as scikit-learn defines them.

    One pass over the labels instead of one ``sklearn.metrics`` call each, whose input checks cost
    more than the counting (5 metrics x 96 tasks of a search). A zero denominator gives 0, as
    ``zero_division=0``; balanced accuracy averages the recall of the classes present in ``y``.
    """
    import numpy as np

    actual = np.asarray(y) == positive
    said = np.asarray(predicted) == positive
    tp = int(np.count_nonzero(actual & said))
    fp = int(np.count_nonzero(said)) - tp
    fn = int(np.count_nonzero(actual)) - tp
    tn = len(actual) - tp - fp - fn
    recalls = [hit / (hit + miss) for hit, miss in ((tp, fn), (tn, fp)) if hit + miss]
    return {
        "accuracy": (tp + tn) / len(actual),
        "balanced_accuracy": sum(recalls) / len(recalls),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
    }


def decision_curve(y: Any, score: Any, positive: Any, decision: dict[str, Any]) -> dict[str, list[float]]:
    """The decision objective of one fold at ``decision["candidates"]`` thresholds.

    The thresholds are evenly spaced between the fold's lowest and highest score and a row
    is predicted positive when its score is at least the threshold, as in scikit-learn's
    ``TunedThresholdClassifierCV``; the objective is computed from the confusion counts with
    the same arithmetic as ``f1_score`` and ``balanced_accuracy_score`` (cost: minus
    ``fp * FP + fn * FN``, so higher is better for every objective).
    """
    import numpy as np

    score = np.asarray(score, dtype=np.float64)
    actual = np.asarray(y) == positive
    thresholds = np.linspace(np.min(score), np.max(score), int(decision["candidates"]))
    n_rows, positives = len(score), int(actual.sum())
    negatives = n_rows - positives
    predicted_positive = n_rows - np.searchsorted(np.sort(score), thresholds, side="left")
    tp = positives - np.searchsorted(np.sort(score[actual]), thresholds, side="left")
    fp = predicted_positive - tp
    fn = positives - tp
    tn = negatives - fp
    objective = decision["objective"]
    with np.errstate(divide="ignore", invalid="ignore"):
        if objective == "f1":
            denominator = (tp + fn).astype(np.float64) + predicted_positive.astype(np.float64)
            values = np.where(denominator > 0, (2.0 * tp) / denominator, 0.0)
        elif objective == "balanced_accuracy":
            rates = [r for r, n in ((tn / negatives, negatives), (tp / positives, positives)) if n]
            values = np.mean(rates, axis=0)
        elif objective == "cost":
            values = -(fp * float(decision["fp"]) + fn * float(decision["fn"]))
        else:
            raise ValueError(f"unknown decision objective '{objective}'; known: f1, balanced_accuracy, cost")
    return {"thresholds": [float(t) for t in thresholds], "scores": [float(v) for v in values]}


def tuned_threshold(curves: list[dict[str, list[float]]], candidates: int) -> dict[str, Any]:
    """The threshold with the best mean objective over the folds' curves, as ``TunedThresholdClassifierCV``.

    Each fold's curve is interpolated on ``candidates`` thresholds spanning every fold's
    scores and the curves are averaged in fold order; the first best threshold wins.

    Raises:
        ValueError: a fold's scores are all equal (the model predicts a constant).
    """
    import numpy as np

    thresholds = [np.asarray(c["thresholds"], dtype=np.float64) for c in curves]
    scores = [np.asarray(c["scores"], dtype=np.float64) for c in curves]
    constant = [i for i, t in enumerate(thresholds) if np.isclose(t[0], t[-1])]
    if constant:
        raise ValueError(f"the model gives every row of fold(s) {constant} the same score")
    grid = np.linspace(min(t.min() for t in thresholds), max(t.max() for t in thresholds), num=candidates)
    mean = np.mean([np.interp(grid, t, s) for t, s in zip(thresholds, scores)], axis=0)
    best = int(mean.argmax())
    return {
        "threshold": float(grid[best]),
        "score": float(mean[best]),
        "curve": {"threshold": [float(v) for v in grid], "score": [float(v) for v in mean]},
    }


def with_threshold(model: Any, threshold: float) -> Any:
    """``model`` (fitted) inside a fitted ``FixedThresholdClassifier``: ``predict`` is ``score >= threshold``.

    The wrapper is marked fitted as its own ``fit`` would (``estimator_``, feature names)
    without fitting the model a second time; ``predict_proba`` is the model's.
    """
    try:
        from sklearn.model_selection import FixedThresholdClassifier
    except ImportError as exc:
        import sklearn

        raise RuntimeError(
            f"a decision threshold needs scikit-learn >= 1.5 (FixedThresholdClassifier) in the model's "
            f"environment, which has {sklearn.__version__}"
        ) from exc
    wrapped = FixedThresholdClassifier(model, threshold=float(threshold))
    wrapped.estimator_ = model
    for name in ("n_features_in_", "feature_names_in_"):
        if hasattr(model, name):
            setattr(wrapped, name, getattr(model, name))
    return wrapped


def unwrap(model: Any) -> Any:
    """The fitted model inside a threshold wrapper, and inside a calibration's first fold (else the model)."""
    inner = getattr(model, "estimator_", None)
    if inner is not None and type(model).__name__.endswith("ThresholdClassifier"):
        model = inner
    calibrated = getattr(model, "calibrated_classifiers_", None)
    return calibrated[0].estimator if calibrated else model


def _thin(*columns: Any) -> list[list[float]]:
    """At most ``_CURVE_POINTS`` evenly spaced points of equally long columns, as lists."""
    import numpy as np

    n = len(columns[0])
    keep = np.unique(np.linspace(0, n - 1, min(n, _CURVE_POINTS)).round().astype(int)) if n else []
    return [[float(c[i]) for i in keep] for c in columns]


def _importances(model: Any, features: list[str]) -> list[dict[str, Any]] | None:
    import numpy as np

    model = unwrap(model)
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    values = getattr(final, "feature_importances_", None)
    if values is None and getattr(final, "coef_", None) is not None:
        values = np.abs(np.ravel(final.coef_))
    if values is None or len(values) != len(features):
        return None
    order = np.argsort(-np.asarray(values), kind="stable")
    return [{"feature": features[i], "importance": float(values[i])} for i in order]


def _reliability(positive: Any, score: Any, bins: int = 10) -> dict[str, list[float]]:
    """Reliability diagram points: per quantile bin of the probability, its mean and the observed positive rate."""
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(positive, score, n_bins=bins, strategy="quantile")
    return {"predicted": predicted.tolist(), "observed": observed.tolist()}


def evaluation(model: Any, X: Any, y: Any, names: list[str], features: list[str]) -> dict[str, Any]:
    """Held-out metrics, ROC/PR curve points, confusion matrix and importances."""
    from sklearn import metrics as skm

    score, proba = _scores(model, X)
    positive = model.classes_[1]
    fpr, tpr, roc_thr = skm.roc_curve(y, score, pos_label=positive)
    precision, recall, pr_thr = skm.precision_recall_curve(y, score, pos_label=positive)
    matrix = skm.confusion_matrix(y, model.predict(X), labels=model.classes_)
    roc = dict(zip(("fpr", "tpr", "threshold"), _thin(fpr, tpr, roc_thr)))
    pr = dict(zip(("recall", "precision"), _thin(recall, precision)))
    return {
        "metrics": _metrics(model, X, y, names),
        "roc_curve": roc,
        "pr_curve": pr,
        "confusion_matrix": {"labels": [_plain(c) for c in model.classes_], "matrix": matrix.tolist()},
        "reliability": _reliability(y == positive, score) if proba is not None else None,
        "feature_importances": _importances(model, features),
        "rows": int(len(y)),
        "positives": int((y == positive).sum()),
    }


def _plain(value: Any) -> Any:
    """A numpy scalar as the equivalent Python value (for pickling across numpy versions)."""
    return value.item() if hasattr(value, "item") else value


def _pickle_model(model: Any) -> bytes:
    try:
        import cloudpickle
    except ImportError:  # pyspark ships a copy on every executor
        from pyspark import cloudpickle  # type: ignore[no-redef]
    return cloudpickle.dumps(model)


def run_task(task: dict[str, Any], payload: dict[str, Any], frame: Any) -> dict[str, Any]:
    """Evaluate one (trial, fold) task, or refit on all training rows for ``kind == "refit"``.

    Returns plain data. A failing fit is reported in ``error`` (not raised), so a bad
    parameter combination fails its trial instead of the Spark job.
    """
    started = time.time()
    result: dict[str, Any] = {"kind": task["kind"], "trial": task["trial"], "fold": task["fold"], "error": None}
    try:
        params = {**payload.get("fixed_params", {}), **task["params"]}
        model = build_estimator(payload["estimator"], params, payload.get("calibration"))
        # one trial per task slot: once the estimator's libraries are loaded, their OpenMP/BLAS
        # pools get the slot's cores, not every core
        with native_thread_limit(payload.get("task_cpus", 1)):
            _fit_and_score(task, payload, frame, model, result)
    except Exception as exc:  # noqa: BLE001 - reported to the driver as the trial's failure
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc(limit=8)
    result["task_time"] = time.time() - started
    return result


def _fit_and_score(
    task: dict[str, Any], payload: dict[str, Any], frame: Any, model: Any, result: dict[str, Any]
) -> None:
    """Fit ``model`` on the task's training rows; put its fit and score times and its scores in ``result``."""
    features, label = payload["features"], payload["label"]
    if task["kind"] == "refit":
        train = frame[~frame[HOLDOUT_COLUMN]]
        test = frame[frame[HOLDOUT_COLUMN]]
    else:
        train = frame[(frame[FOLD_COLUMN] != task["fold"]) & ~frame[HOLDOUT_COLUMN]]
        test = frame[frame[FOLD_COLUMN] == task["fold"]]
    fit_start = time.perf_counter()
    model.fit(train[features], train[label])
    result["fit_time"] = time.perf_counter() - fit_start
    score_start = time.perf_counter()
    if task["kind"] == "refit":
        names = payload["metrics"]
        if task.get("threshold") is not None:
            untuned = [n for n in names if not METRICS.get(n, (True, True))[1]]
            result["untuned_metrics"] = _metrics(model, test[features], test[label], untuned)
            model = with_threshold(model, task["threshold"])
        result["evaluation"] = evaluation(model, test[features], test[label], names, features)
        result["metrics"] = result["evaluation"]["metrics"]
        result["holdout_outputs"] = model_outputs(model, test[features])
        example = train[features].head(_EXAMPLE_ROWS)
        result["example_predictions"] = [_plain(v) for v in model.predict(example)]
        result["model_bytes"] = _pickle_model(model)
    else:
        scored = _scores(model, test[features])
        result["metrics"] = _metrics(model, test[features], test[label], payload["metrics"], scored)
        if payload.get("decision"):
            result["decision_curve"] = decision_curve(test[label], scored[0], model.classes_[1], payload["decision"])
    result["score_time"] = time.perf_counter() - score_start


_FRAMES: dict[int, Any] = {}


def _frame_of(payload: dict[str, Any]) -> Any:
    """Decode the broadcast data once per Python worker (workers are reused across tasks)."""
    key = payload["data_id"]
    if key not in _FRAMES:
        _FRAMES.clear()
        _FRAMES[key] = decode_frame(payload["data"])
    return _FRAMES[key]


@functools.lru_cache(maxsize=4)
def _report_of(packages: tuple[str, ...]) -> dict[str, Any]:
    return environment_report(packages)


def run_partition(broadcast: Any, tasks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Spark ``mapPartitions`` body: run each task of the partition against the broadcast data."""
    from pyspark import TaskContext

    payload = broadcast.value
    frame = _frame_of(payload)
    context = TaskContext.get()
    env = _report_of(tuple(payload.get("packages", ())))
    for task in tasks:
        result = run_task(task, payload, frame)
        result["attempt"] = context.attemptNumber() if context else 0
        result["environment"] = env
        yield result
