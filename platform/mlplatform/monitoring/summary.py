"""A current sample summarised on a reference profile's bins: all the drift check reads, as counts.

Per column a :class:`ColumnSummary` holds the rows, the non-null values, their count per
reference bin (numeric: per bin of the profile's edges; categorical: per top category, then
"other"), and how many of them lie outside the reference (numeric: outside its [min, max],
all of them when the reference has no values; categorical: a category the profile does not
name). Counts add up, so the same summary comes from pandas here (the in-process engine)
or from one Spark aggregation pass (:mod:`mlplatform.monitoring.spark_summary`), and
:func:`mlplatform.monitoring.drift.compare_summary` judges either.

Only a small sample's numeric test needs raw values: a column with at most
``small_sample_rows`` non-null values keeps them (sorted), every other column keeps none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from mlplatform.errors import MonitoringError
from mlplatform.monitoring.bands import ModelThresholds
from mlplatform.monitoring.frames import NUMERIC, as_pandas, category_counts, numeric_values, output_columns
from mlplatform.monitoring.profile import ColumnProfile, Profile
from mlplatform.monitoring.stats import category_bin_counts, numeric_bin_counts

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ColumnSummary", "Summary", "summarize", "summarize_column", "check_features", "output_reference"]


@dataclass(frozen=True)
class ColumnSummary:
    """One current column on its reference bins.

    Attributes:
        name: the column; ``rows``: its rows; ``non_null``: rows with a value (NaN is null).
        counts: non-null values per reference bin.
        outside: non-null values outside the reference (see the module docstring).
        values: the non-null values, sorted, when a numeric column has at most the small-sample
            rows of them; None otherwise.
    """

    name: str
    rows: int
    non_null: int
    counts: tuple[int, ...]
    outside: int
    values: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Summary:
    """A current sample: its rows (of the feature frame) and a :class:`ColumnSummary` per feature, then per output."""

    rows: int
    columns: Mapping[str, ColumnSummary]


def check_features(profile: Profile, names: list[str]) -> None:
    """Raise when a profiled feature is not among ``names`` (the current sample's columns).

    Raises:
        MonitoringError: naming the model and the missing features.
    """
    present = set(names)
    missing = [name for name in profile.features if name not in present]
    if missing:
        raise MonitoringError(
            f"the current sample for {profile.subject} lacks profiled feature(s) {', '.join(missing)}",
            "pass the scored feature vectors with every feature the model was trained on",
        )


def output_reference(profile: Profile, name: str) -> ColumnProfile:
    """The profile of output ``name``.

    Raises:
        MonitoringError: naming the model when the profile has no such output.
    """
    reference = profile.outputs.get(name)
    if reference is None:
        known = ", ".join(profile.outputs) or "none"
        raise MonitoringError(
            f"{profile.subject} has no reference profile of output {name!r}",
            f"profiled outputs: {known}; pass the outputs the profile was built with",
        )
    return reference


def summarize(
    profile: Profile,
    current: Any,
    predictions: Any = None,
    probabilities: Any = None,
    *,
    thresholds: ModelThresholds | None = None,
) -> Summary:
    """The :class:`Summary` of ``current`` and the model's outputs on it (arguments as :func:`~.drift.compare`).

    Raises:
        MonitoringError: as :func:`~mlplatform.monitoring.drift.compare`.
    """
    thresholds = thresholds or ModelThresholds()
    frame = as_pandas(current, f"the current sample for {profile.subject}")
    names = {str(c): c for c in frame.columns}
    check_features(profile, list(names))
    columns = {
        name: summarize_column(reference, frame[names[name]], thresholds.get(name).small_sample_rows)
        for name, reference in profile.features.items()
    }
    for name, (_, values) in output_columns(predictions, probabilities).items():
        reference = output_reference(profile, name)
        columns[name] = summarize_column(reference, values, thresholds.get(name).small_sample_rows)
    return Summary(rows=int(len(frame)), columns=columns)


def summarize_column(reference: ColumnProfile, values: "pd.Series", small_sample_rows: int) -> ColumnSummary:
    """The :class:`ColumnSummary` of one current column against its reference profile."""
    import numpy as np

    rows = int(len(values))
    if reference.kind != NUMERIC:
        observed = category_counts(values)
        known = reference.known_categories()
        return ColumnSummary(
            name=reference.name,
            rows=rows,
            non_null=int(observed.sum()),
            counts=tuple(int(c) for c in category_bin_counts(observed, reference.categories)),
            outside=int(observed[[name not in known for name in observed.index]].sum()),
        )
    numbers = numeric_values(values, reference.name)
    counts = numeric_bin_counts(numbers, reference.edges)
    non_null = int(counts.sum())
    outside = non_null
    if reference.minimum is not None and reference.maximum is not None:  # NaN is neither below nor above
        outside = int(np.count_nonzero(numbers < reference.minimum) + np.count_nonzero(numbers > reference.maximum))
    small = non_null <= small_sample_rows
    return ColumnSummary(
        name=reference.name,
        rows=rows,
        non_null=non_null,
        counts=tuple(int(c) for c in counts),
        outside=outside,
        values=tuple(float(v) for v in np.sort(numbers[~np.isnan(numbers)])) if small else None,
    )
