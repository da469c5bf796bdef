"""A current sample's :class:`~mlplatform.monitoring.summary.Summary` from one Spark aggregation pass.

Every count the drift check reads, for every column at once, comes from one projection and a
single ``DataFrame.agg`` over it (no group, one result row, no raw rows collected): per column
the projection gives its reference bin (numeric: right-closed on the edges; categorical: the
position of its top category, past them for "other") and whether it lies outside the
reference (numeric: outside [min, max]; categorical: a category the profile does not name);
the aggregation counts the non-null values (NaN counts as null, as in pandas), each bin, and
those outside. Only the numeric columns with at most ``small_sample_rows`` non-null values —
whose KS test needs them — are then collected, in one more query over just those columns'
non-null values.

Categories are compared by their string form, as :mod:`mlplatform.monitoring.frames` does:
booleans as ``True`` / ``False`` (Python's ``str``), other types by Spark's cast to string
(the same as ``str`` for strings, integers and integral floats such as ``1.0``).
"""

from __future__ import annotations

import logging
import operator
from functools import reduce
from typing import TYPE_CHECKING, Any, Callable

from mlplatform.errors import MonitoringError
from mlplatform.monitoring.bands import ModelThresholds
from mlplatform.monitoring.frames import NUMERIC
from mlplatform.monitoring.profile import ColumnProfile, Profile
from mlplatform.monitoring.summary import ColumnSummary, Summary, check_features, output_reference

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["summarize", "aggregation", "output_expressions"]

log = logging.getLogger(__name__)

_ROWS = "rows"

_Counts = tuple[int, tuple[int, ...], int]  # non-null, counts per reference bin, outside


def output_expressions(frame: "DataFrame", profile: Profile, prediction: str, probability: str) -> dict[str, "Column"]:
    """The model's outputs in ``frame`` as ``{profiled output name: column}`` (those the frame has).

    ``prediction`` is the prediction column; ``probability`` either a number (the positive
    class: ``probability``) or an array of class probabilities (``probability_<i>`` is element
    ``i``, for each such output in the profile).

    Raises:
        MonitoringError: naming the model when an output in ``frame`` is not in the profile.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType

    out: dict[str, Column] = {}
    if prediction in frame.columns:
        output_reference(profile, "prediction")
        out["prediction"] = F.col(prediction)
    if probability not in frame.columns:
        return out
    if not isinstance(frame.schema[probability].dataType, ArrayType):
        output_reference(profile, "probability")
        out["probability"] = F.col(probability)
        return out
    names = [n for n in profile.outputs if n.startswith("probability_") and n.rsplit("_", 1)[1].isdigit()]
    if not names:
        output_reference(profile, "probability_0")
    for name in names:
        out[name] = F.col(probability)[int(name.rsplit("_", 1)[1])]
    return out


def aggregation(
    frame: "DataFrame", profile: Profile, outputs: dict[str, "Column"] | None = None
) -> tuple["DataFrame", Callable[[Any], dict[str, _Counts]]]:
    """The one-row aggregation of ``frame`` against ``profile`` and the function that reads its row.

    The reader gives, per column, ``(non_null, counts per reference bin, outside)``; the row's
    ``rows`` field is the frame's row count.

    Raises:
        MonitoringError: naming the model when a profiled feature is missing, and naming the
            column when a numeric feature is not a number in ``frame``.
    """
    return _aggregation(frame, profile, _cleaned(frame, profile, outputs or {}))


def summarize(
    frame: "DataFrame",
    profile: Profile,
    *,
    thresholds: ModelThresholds | None = None,
    outputs: dict[str, "Column"] | None = None,
) -> Summary:
    """The :class:`~.summary.Summary` of a Spark DataFrame of scored feature vectors (and outputs).

    Args:
        frame: holds every profiled feature (other columns are ignored) and the outputs' columns.
        profile: the model version's reference profile.
        thresholds: the model's bands (for ``small_sample_rows``); default the built-in ones.
        outputs: ``{profiled output name: column of frame}`` (:func:`output_expressions`).

    Raises:
        MonitoringError: as :func:`aggregation`, and when ``thresholds`` names a column the profile lacks.
    """
    thresholds = thresholds or ModelThresholds()
    thresholds.check_columns([c.name for c in profile.columns()], profile.subject)
    cleaned = _cleaned(frame, profile, outputs or {})
    aggregated, read = _aggregation(frame, profile, cleaned)
    row = aggregated.collect()[0]
    rows = int(row[_ROWS])
    measured = read(row)
    kinds = {c.name: c.kind for c in profile.columns()}
    small = {
        name: cleaned[name]
        for name, (non_null, _, _) in measured.items()
        if kinds[name] == NUMERIC and non_null <= thresholds.get(name).small_sample_rows
    }
    values = _small_values(frame, small)
    log.debug("spark summary of %s: %d rows, %d columns, %d small", profile.subject, rows, len(measured), len(small))
    return Summary(
        rows=rows,
        columns={
            name: ColumnSummary(
                name=name, rows=rows, non_null=non_null, counts=counts, outside=outside, values=values.get(name)
            )
            for name, (non_null, counts, outside) in measured.items()
        },
    )


def _cleaned(frame: "DataFrame", profile: Profile, outputs: dict[str, "Column"]) -> dict[str, "Column"]:
    """Every profiled feature of ``frame``, then the outputs, as the drift check sees them (:func:`_clean`)."""
    from pyspark.sql import functions as F

    check_features(profile, frame.columns)
    columns = {name: F.col(name) for name in profile.features}
    columns.update(outputs)
    references = {c.name: c for c in profile.columns()}
    types = [f.dataType for f in frame.select(*columns.values()).schema]
    return {
        name: _clean(name, column, data_type, references[name])
        for (name, column), data_type in zip(columns.items(), types)
    }


def _aggregation(
    frame: "DataFrame", profile: Profile, cleaned: dict[str, "Column"]
) -> tuple["DataFrame", Callable[[Any], dict[str, _Counts]]]:
    """One projection (per column its bin index and whether it is outside the reference), then one aggregation.

    Projecting first keeps every aggregate a count over a plain column: the generated code
    stays small (a count per bin over the raw value expression took twice as long to compile).
    """
    from pyspark.sql import functions as F

    references = {c.name: c for c in profile.columns()}
    projected = []
    exprs = [F.count(F.lit(1)).alias(_ROWS)]
    readers: dict[str, Callable[[Any], _Counts]] = {}
    for i, (name, value) in enumerate(cleaned.items()):
        reference = references[name]
        index, outside = _bin_index(reference, value), _outside(reference, value)
        projected += [index.alias(f"b{i}"), outside.alias(f"o{i}")]
        bins = len(reference.counts) - (0 if reference.kind == NUMERIC else 1)  # categorical "other": the rest
        names = [f"c{i}_{j}" for j in range(bins + 2)]
        exprs += [
            F.count(F.col(f"b{i}")).alias(names[0]),
            *(F.count(F.when(F.col(f"b{i}") == j, 1)).alias(n) for j, n in enumerate(names[1:-1])),
            F.count(F.when(F.col(f"o{i}"), 1)).alias(names[-1]),
        ]
        readers[name] = _reader(names, reference.kind == NUMERIC)

    def read(row: Any) -> dict[str, _Counts]:
        return {name: reader(row) for name, reader in readers.items()}

    return frame.select(*projected).agg(*exprs), read


def _reader(names: list[str], numeric: bool) -> Callable[[Any], _Counts]:
    def read(row: Any) -> _Counts:
        got = [int(row[n]) for n in names]
        non_null, counts, outside = got[0], got[1:-1], got[-1]
        if not numeric:
            counts = [*counts, non_null - sum(counts)]
        return non_null, tuple(counts), outside

    return read


def _bin_index(reference: ColumnProfile, value: "Column") -> "Column":
    """The reference bin of ``value`` (null for a null): numeric right-closed on the edges; categorical by position.

    A categorical value that is no top category gets the index past them ("other", not counted apart).
    """
    from pyspark.sql import functions as F

    if reference.kind == NUMERIC:
        inner = reference.edges[1:-1]
        index = F.when(value.isNotNull(), F.lit(len(inner)))
        for j in reversed(range(len(inner))):
            index = F.when(value <= inner[j], F.lit(j)).otherwise(index)
        return index
    index = F.when(value.isNotNull(), F.lit(len(reference.categories)))
    for j in reversed(range(len(reference.categories))):
        index = F.when(value == reference.categories[j], F.lit(j)).otherwise(index)
    return index


def _outside(reference: ColumnProfile, value: "Column") -> "Column":
    """Whether a non-null ``value`` lies outside the reference: its [min, max], or the categories it names."""

    if reference.kind == NUMERIC:
        if reference.minimum is None or reference.maximum is None:
            return value.isNotNull()
        return (value < reference.minimum) | (value > reference.maximum)
    known = sorted(reference.known_categories())
    return ~value.isin(known) if known else value.isNotNull()


def _clean(name: str, column: "Column", data_type: Any, reference: ColumnProfile) -> "Column":
    """The column as the drift check sees it: numeric as double with NaN as null, categorical as a string."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, DoubleType, FloatType, NumericType

    floating = isinstance(data_type, (DoubleType, FloatType))
    if reference.kind == NUMERIC:
        if not isinstance(data_type, (NumericType, BooleanType)):
            raise MonitoringError(
                f"column {name!r} is numeric in the reference but holds {data_type.simpleString()} values",
                "convert the column to numbers, or profile it as categorical (categorical=[...])",
            )
        number = column.cast("double")
        return F.when(~F.isnan(number), number) if floating else number
    if isinstance(data_type, BooleanType):
        return F.when(column, F.lit("True")).when(~column, F.lit("False"))
    if floating:
        return F.when(~F.isnan(column), column.cast("string"))
    return column.cast("string")


def _small_values(frame: "DataFrame", columns: dict[str, "Column"]) -> dict[str, tuple[float, ...]]:
    """The sorted non-null values of the (cleaned) small numeric ``columns``, in one query."""
    import numpy as np
    from pyspark.sql import functions as F

    if not columns:
        return {}
    aliases = [f"v{i}" for i in range(len(columns))]
    picked = frame.select(*[c.alias(a) for c, a in zip(columns.values(), aliases)])
    table = picked.where(reduce(operator.or_, [F.col(a).isNotNull() for a in aliases])).toArrow()
    out = {}
    for name, alias in zip(columns, aliases):
        values = table.column(alias).to_numpy(zero_copy_only=False).astype("float64")
        out[name] = tuple(float(v) for v in np.sort(values[~np.isnan(values)]))
    return out
