"""A feature frame (pandas or pyarrow) and a model's outputs as named columns ready for profiling.

Holds the rules shared by the profile and the drift check: which columns are numeric and
which categorical, how nulls are recognised, how numeric values are read (``float64`` with
``NaN`` for nulls) and how categories are counted (by their ``str`` form, so ``1`` in a
reference and ``"1"`` in a scored batch are the same category).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlplatform.errors import MonitoringError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "NUMERIC",
    "CATEGORICAL",
    "FEATURE",
    "PREDICTION",
    "PROBABILITY",
    "as_pandas",
    "column_kind",
    "numeric_values",
    "category_counts",
    "output_columns",
]

NUMERIC = "numeric"
CATEGORICAL = "categorical"

FEATURE = "feature"
PREDICTION = "prediction"
PROBABILITY = "probability"


def as_pandas(frame: Any, what: str) -> "pd.DataFrame":
    """``frame`` (a pandas DataFrame, a pyarrow Table or RecordBatch) as a pandas DataFrame.

    Raises:
        MonitoringError: naming ``what`` when ``frame`` is none of these.
    """
    import pandas as pd
    import pyarrow as pa

    if isinstance(frame, pd.DataFrame):
        return frame
    if isinstance(frame, (pa.Table, pa.RecordBatch)):
        return frame.to_pandas()
    raise MonitoringError(
        f"{what} is a {type(frame).__name__}, not a table of features",
        "pass a pandas DataFrame or a pyarrow Table (a Spark DataFrame: .toPandas() or toArrow() of it)",
    )


def column_kind(series: "pd.Series", name: str) -> str:
    """:data:`NUMERIC` for numbers, :data:`CATEGORICAL` for strings, booleans and pandas categories.

    Raises:
        MonitoringError: for dates, times and durations, which have no drift measure here.
    """
    import pandas as pd
    from pandas.api import types

    if types.is_bool_dtype(series.dtype) or isinstance(series.dtype, pd.CategoricalDtype):
        return CATEGORICAL
    if types.is_datetime64_any_dtype(series.dtype) or types.is_timedelta64_dtype(series.dtype):
        raise MonitoringError(
            f"column {name!r} holds {series.dtype} values, which are neither numeric nor categorical",
            "leave it out of the profile (exclude=[...]) or convert it to a number, e.g. days since an event",
        )
    if types.is_numeric_dtype(series.dtype):
        return NUMERIC
    return CATEGORICAL


def numeric_values(series: "pd.Series", name: str) -> "np.ndarray":
    """The column as ``float64`` with ``NaN`` for nulls.

    Raises:
        MonitoringError: when a non-null value is not a number (e.g. a string in a numeric feature).
    """
    import numpy as np
    import pandas as pd

    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "biuf":  # numpy numbers hold no non-number
        return series.to_numpy(dtype="float64")
    nulls = series.isna().to_numpy()
    try:
        values = pd.to_numeric(series, errors="coerce")
    except TypeError as exc:
        raise MonitoringError(
            f"column {name!r} is numeric in the reference but its values are not numbers: {exc}",
            "convert the column to numbers, or profile it as categorical (categorical=[...])",
        ) from exc
    out = values.to_numpy(dtype="float64", na_value=np.nan)
    bad = np.isnan(out) & ~nulls
    if bad.any():
        example = series[bad].iloc[0]
        raise MonitoringError(
            f"column {name!r} is numeric in the reference but holds {int(bad.sum())} non-numeric value(s), "
            f"e.g. {example!r}",
            "convert the column to numbers, or profile it as categorical (categorical=[...])",
        )
    return out


def category_counts(series: "pd.Series") -> "pd.Series":
    """How often each non-null category occurs, indexed by the category's ``str`` form (int64 counts)."""
    import pandas as pd

    counts = series.value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]
    if counts.empty:
        return pd.Series([], dtype="int64", index=pd.Index([], dtype=object))
    counts.index = pd.Index([str(v) for v in counts.index], dtype=object)
    return counts.groupby(level=0, sort=False).sum().astype("int64")


def output_columns(predictions: Any = None, probabilities: Any = None) -> dict[str, tuple[str, "pd.Series"]]:
    """The model's outputs as ``{name: (role, values)}``.

    ``predictions`` (a 1-D array, list or Series) is named ``prediction``. ``probabilities``
    is either 1-D (the positive class, named ``probability``), a 2-D array (one column per
    class, ``probability_0``, ``probability_1``, ...) or a DataFrame / pyarrow Table (one
    column per class, ``probability_<column>``).

    Raises:
        MonitoringError: when an output is not one- or two-dimensional.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    out: dict[str, tuple[str, pd.Series]] = {}
    if predictions is not None:
        values = _one_dimensional(predictions, "predictions")
        out["prediction"] = (PREDICTION, values)
    if probabilities is None:
        return out
    if isinstance(probabilities, (pd.DataFrame, pa.Table, pa.RecordBatch)):
        frame = as_pandas(probabilities, "probabilities")
        for column in frame.columns:
            out[f"probability_{column}"] = (PROBABILITY, frame[column].reset_index(drop=True))
        return out
    array = probabilities if isinstance(probabilities, pd.Series) else np.asarray(probabilities)
    if getattr(array, "ndim", 1) == 2:
        for i in range(array.shape[1]):
            out[f"probability_{i}"] = (PROBABILITY, pd.Series(array[:, i]))
        return out
    out["probability"] = (PROBABILITY, _one_dimensional(probabilities, "probabilities"))
    return out


def _one_dimensional(values: Any, what: str) -> "pd.Series":
    import numpy as np
    import pandas as pd

    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    array = np.asarray(values)
    if array.ndim != 1:
        raise MonitoringError(
            f"{what} has shape {array.shape}, not one value per row",
            "pass a 1-D array; for class probabilities a 2-D array or a DataFrame with one column per class",
        )
    return pd.Series(array)
