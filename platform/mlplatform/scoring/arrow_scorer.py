"""Executor side of batch scoring: Arrow record batches in, predictions out.

This module runs inside the *model's* environment, in Spark's Python workers. It
imports only the standard library, numpy, pyarrow and cloudpickle at module level
(pandas only for models that need a DataFrame, the model's own libraries through
unpickling) — never click, mlflow or the platform's configuration.

The driver ships ``model.pkl`` with ``SparkContext.addFile`` and hands
:func:`score_batches` (or :func:`probe`) a :class:`ScorerSpec` to ``mapInArrow``.
The model is unpickled once per Python worker and kept in a module-level cache
keyed by the sha256 of its bytes; Spark reuses Python workers across tasks, so a
worker scoring many partitions loads the model once.

Features go to the model as one C-ordered float64 numpy matrix when the model
accepts that (decided once by :func:`probe` on a sample); the outputs come back as
numpy arrays and leave as Arrow arrays without a pandas round trip.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Sequence

import numpy as np
import pyarrow as pa

from mlplatform.estimators import final_estimator_name, predict_is_argmax_proba
from mlplatform.probe import report_from
from mlplatform.threads import native_thread_limit

__all__ = [
    "ScorerSpec",
    "score_batches",
    "probe",
    "load_model",
    "NULL_MARKER",
    "PROBE_SAMPLE_ROWS",
]

# An executor error whose text carries this marker means: null features for a model
# that does not accept NaN. The driver then counts the nulls exactly and reports them.
NULL_MARKER = "MLP-NULL-FEATURES"

PROBE_SAMPLE_ROWS = 32

# numpy input loses column names; scikit-learn warns about that on every call.
warnings.filterwarnings("ignore", message="X does not have valid feature names")

_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ScorerSpec:
    """Everything a worker needs to score: where the model is, which columns, what comes out.

    The first group is known before any task runs; the second comes from :func:`probe`.
    """

    model_file: str  # a name given to SparkContext.addFile, or an absolute path
    model_sha256: str
    features: tuple[str, ...]  # in the order the model expects them
    keys: tuple[str, ...] = ()  # passed through unchanged
    threads: int = 1  # native threads per task (spark.task.cpus): the model's OpenMP/BLAS pools are capped to it
    # filled from the probe
    input_mode: str = "numpy"  # "numpy" (float64 matrix) | "pandas" (DataFrame with feature names)
    proba: str = "none"  # "none" | "binary" | "multiclass"
    predict_from_proba: bool = False
    decision_threshold: float | None = None  # with predict_from_proba: classes[probability >= it], not argmax
    prediction_type: str = "double"  # Arrow type name of the prediction column
    classes: tuple[Any, ...] | None = None
    nullable: tuple[str, ...] = ()  # features the model scores when null (NaN / None)
    extra: dict[str, str] = field(default_factory=dict)


def _model_path(spec: ScorerSpec) -> str:
    if os.path.isabs(spec.model_file):
        return spec.model_file
    from pyspark import SparkFiles

    return SparkFiles.get(spec.model_file)


def load_model(spec: ScorerSpec) -> Any:
    """The unpickled model, loaded once per process (cached by the sha256 of ``model.pkl``)."""
    model = _MODELS.get(spec.model_sha256)
    if model is not None:
        return model
    with _LOCK:
        model = _MODELS.get(spec.model_sha256)
        if model is None:
            import cloudpickle

            with open(_model_path(spec), "rb") as fh:
                model = cloudpickle.load(fh)
            _MODELS[spec.model_sha256] = model
    return model


def _column_numpy(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_boolean(column.type) or pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        if column.null_count:
            column = column.cast(pa.float64())
        return column.to_numpy(zero_copy_only=False)
    return np.asarray(column.to_pylist(), dtype=object)


def _matrix(batch: pa.RecordBatch, features: Sequence[str]) -> np.ndarray:
    """Features as one C-ordered float64 matrix; nulls become NaN."""
    X = np.empty((batch.num_rows, len(features)), dtype=np.float64)
    for i, name in enumerate(features):
        X[:, i] = _column_numpy(batch.column(name))
    return X


def _frame(batch: pa.RecordBatch, features: Sequence[str]) -> Any:
    import pandas as pd

    return pd.DataFrame({name: _column_numpy(batch.column(name)) for name in features}, columns=list(features))


def _inputs(batch: pa.RecordBatch, spec: ScorerSpec) -> Any:
    return _matrix(batch, spec.features) if spec.input_mode == "numpy" else _frame(batch, spec.features)


def _null_counts(batch: pa.RecordBatch, features: Sequence[str]) -> dict[str, int]:
    return {name: batch.column(name).null_count for name in features if batch.column(name).null_count}


def _check_nulls(batch: pa.RecordBatch, spec: ScorerSpec) -> None:
    counts = _null_counts(batch, [f for f in spec.features if f not in spec.nullable])
    if counts:
        raise ValueError(f"{NULL_MARKER} {json.dumps(counts, sort_keys=True)} (in one batch of {batch.num_rows} rows)")


def _nullable(model: Any, row: pa.RecordBatch, spec: ScorerSpec, has_proba: bool) -> list[str]:
    """Features the model scores when null: tried on copies of one complete row, one feature nulled in each.

    Asking the model is more reliable than estimator tags (a Pipeline's tags come
    from its first step, whatever the later steps do with NaN).
    """
    features = list(spec.features)
    columns = []
    for j, name in enumerate(features):
        value = row.column(name)[0].as_py()
        columns.append(pa.array([None if i == j else value for i in range(len(features))], type=row.column(name).type))
    trial = pa.RecordBatch.from_arrays(columns, names=features)
    call = model.predict_proba if has_proba else model.predict

    def accepts(batch: pa.RecordBatch) -> bool:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                call(_inputs(batch, spec))
            return True
        except Exception:  # noqa: BLE001 - any refusal means: not with nulls in this column
            return False

    if accepts(trial):
        return features
    return [name for i, name in enumerate(features) if accepts(trial.slice(i, 1))]


def _arrow_type_name(values: np.ndarray) -> str:
    kind = values.dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iu":
        return "int64"
    if kind == "f":
        return "double"
    return "string"


def _from_proba(proba: np.ndarray, threshold: float | None) -> np.ndarray:
    """Index of the predicted class: the positive one at or above ``threshold``, else the most probable."""
    if threshold is None:
        return proba.argmax(axis=1)
    return (proba[:, 1] >= threshold).astype(np.intp)


def _decision_threshold(model: Any, classes: Sequence[Any]) -> float | None:
    """The threshold of a binary ``FixedThresholdClassifier`` whose ``predict`` is ``predict_proba[:, 1] >= it``."""
    if type(model).__name__ != "FixedThresholdClassifier" or len(classes) != 2:
        return None
    if getattr(model, "response_method", None) not in ("auto", "predict_proba"):
        return None
    if getattr(model, "pos_label", None) not in (None, classes[1]):
        return None
    return float(model.threshold)


def _predict(model: Any, X: Any, spec: ScorerSpec) -> tuple[np.ndarray, np.ndarray | None]:
    if spec.proba == "none":
        return np.asarray(model.predict(X)), None
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    if spec.predict_from_proba:
        classes = np.asarray(spec.classes if spec.classes is not None else model.classes_)
        prediction = classes[_from_proba(proba, spec.decision_threshold)]
    else:
        prediction = np.asarray(model.predict(X))
    return prediction, proba


_ARROW_TYPES = {"bool": pa.bool_(), "int64": pa.int64(), "double": pa.float64(), "string": pa.string()}


def _prediction_array(prediction: np.ndarray, spec: ScorerSpec) -> pa.Array:
    kind = spec.prediction_type
    if kind == "string":
        return pa.array([None if v is None else str(v) for v in prediction.tolist()], type=pa.string())
    return pa.array(prediction, type=_ARROW_TYPES[kind])


def _proba_array(proba: np.ndarray, spec: ScorerSpec) -> pa.Array:
    if spec.proba == "binary":
        return pa.array(np.ascontiguousarray(proba[:, 1]), type=pa.float64())
    n, k = proba.shape
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(proba.reshape(-1), type=pa.float64()))


def score_batch(model: Any, batch: pa.RecordBatch, spec: ScorerSpec) -> pa.RecordBatch:
    """Score one record batch: key columns, ``prediction`` and (classifiers) ``probability``."""
    _check_nulls(batch, spec)
    prediction, proba = _predict(model, _inputs(batch, spec), spec)
    arrays = [batch.column(k) for k in spec.keys] + [_prediction_array(prediction, spec)]
    names = list(spec.keys) + ["prediction"]
    if proba is not None:
        arrays.append(_proba_array(proba, spec))
        names.append("probability")
    return pa.RecordBatch.from_arrays(arrays, names=names)


def score_batches(batches: Iterator[pa.RecordBatch], spec: ScorerSpec) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` function: the model is loaded once per worker, before its thread pools are capped.

    A partition without rows loads nothing.
    """
    batches = iter(batches)
    first = next((batch for batch in batches if batch.num_rows), None)
    if first is None:
        return
    model = load_model(spec)
    with native_thread_limit(spec.threads):
        yield score_batch(model, first, spec)
        for batch in batches:
            if batch.num_rows:
                yield score_batch(model, batch, spec)


def _json_value(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _complete_rows(batch: pa.RecordBatch, features: Sequence[str]) -> pa.RecordBatch:
    """The sample rows with every feature set; when there is none, one row made of each feature's first value.

    Null acceptance is probed by nulling one feature at a time in a complete row, so a sample in
    which every row lacks some feature (a few entities, each missing something) still gets one.
    Empty when a feature is null in every sample row.
    """
    complete = [i for i in range(batch.num_rows) if all(batch.column(f)[i].is_valid for f in features)]
    if complete or not batch.num_rows:
        return batch.take(pa.array(complete, type=pa.int64()))
    columns = []
    for name in batch.schema.names:
        column = batch.column(name)
        if name in features:
            column = column.filter(column.is_valid())
            if not len(column):
                return batch.slice(0, 0)
        columns.append(column.slice(0, 1))
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def _sample_traits(model: Any, batch: pa.RecordBatch, spec: ScorerSpec) -> dict[str, Any]:
    """Decide input mode, output types and the predict-from-proba shortcut on sample rows."""
    traits: dict[str, Any] = {}
    has_proba = callable(getattr(model, "predict_proba", None)) and getattr(model, "classes_", None) is not None
    classes = [_json_value(c) for c in np.asarray(model.classes_).tolist()] if has_proba else None
    traits["classes"] = classes
    traits["proba"] = "none" if not has_proba else ("binary" if len(classes or ()) == 2 else "multiclass")
    sample = _complete_rows(batch, spec.features)
    traits["sample_scored"] = sample.num_rows
    if not sample.num_rows:
        traits["input_mode"] = "pandas"
        traits["prediction_type"] = _arrow_type_name(np.asarray(classes)) if classes else "double"
        traits["predict_from_proba"] = False
        traits["decision_threshold"] = None
        traits["nullable"] = []
        return traits
    frame = _frame(sample, spec.features)
    reference = np.asarray(model.predict(frame))
    traits["prediction_type"] = _arrow_type_name(reference)
    try:
        same = np.array_equal(np.asarray(model.predict(_matrix(sample, spec.features))), reference)
    except Exception:  # noqa: BLE001 - the model needs named columns (e.g. a ColumnTransformer)
        same = False
    traits["input_mode"] = "numpy" if same else "pandas"
    traits["nullable"] = _nullable(model, sample.slice(0, 1), replace(spec, input_mode=traits["input_mode"]), has_proba)
    traits["predict_from_proba"], traits["decision_threshold"] = False, None
    if has_proba:
        proba = np.asarray(model.predict_proba(frame))
        threshold = _decision_threshold(model, classes or [])
        derived = np.asarray(classes)[_from_proba(proba, threshold)]
        safe = threshold is not None or predict_is_argmax_proba(model)
        traits["predict_from_proba"] = safe and np.array_equal(derived, reference)
        traits["decision_threshold"] = threshold if traits["predict_from_proba"] else None
    return traits


def probe(batches: Iterator[pa.RecordBatch], spec: ScorerSpec) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` over a few sample rows: one JSON row describing worker, model and sample.

    Reports the interpreter (to show the model's environment is in use), the
    model's class, which features it accepts nulls in, and the traits
    :class:`ScorerSpec` needs.
    Scoring the sample here also loads the model into this worker's cache.
    """

    rows = [b for b in batches if b.num_rows]
    batch = pa.Table.from_batches(rows).combine_chunks().to_batches()[0] if rows else None
    info: dict[str, Any] = {"worker": report_from(["numpy", "pyarrow", "pandas", "scikit-learn", "cloudpickle"])}
    try:
        model = load_model(spec)
        info["estimator"] = final_estimator_name(model)
        names = getattr(model, "feature_names_in_", None)
        info["feature_names_in"] = [str(n) for n in names] if names is not None else None
        if info["feature_names_in"] and sorted(info["feature_names_in"]) == sorted(spec.features):
            spec = replace(spec, features=tuple(info["feature_names_in"]))
        info["features"] = list(spec.features)
        info["sample_rows"] = batch.num_rows if batch is not None else 0
        if batch is not None:
            info.update(_sample_traits(model, batch, spec))
    except Exception as exc:  # noqa: BLE001 - reported to the driver, which raises a ScoringError
        info["error"] = f"{type(exc).__name__}: {exc}"
    yield pa.RecordBatch.from_arrays([pa.array([json.dumps(info, default=str)], type=pa.string())], names=["info"])
