"""Drift and data quality of a current sample (scored feature vectors and predictions) against a reference profile.

Per column, on the reference profile's bins (:mod:`mlplatform.monitoring.stats`):

- drift: PSI and the base-2 Jensen-Shannon distance; for a small sample (at most
  ``small_sample_rows`` non-null current values, 10,000 by default) a statistical test as
  well: numeric, a two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``) against the
  random sample of reference values the profile keeps; categorical, a chi-square goodness
  of fit (``scipy.stats.chisquare``) of the current counts to the reference shares;
- data quality: null rate and its change, the share of non-null numeric values outside the
  reference [min, max], the share of non-null categorical values the reference never had
  (NaN when the reference had more categories than the profile names).

Status per column: the worst of its drift status and its quality status. The drift status
is the PSI band; a small sample's drift status is ``ok`` unless its test also rejects at
``alpha`` (small samples scatter PSI, large ones make every test reject: so neither cries
wolf). The quality status is the worst of the null-rate increase, out-of-range and unseen
bands. The report's status is the worst of its columns'.

The measures read only a :class:`~mlplatform.monitoring.summary.Summary` of the sample (counts
on the reference bins): :func:`compare` summarises a pandas sample in process, and
:func:`compare_summary` judges a summary from either engine (one Spark aggregation pass:
:mod:`mlplatform.monitoring.spark_summary`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mlplatform.errors import MonitoringError
from mlplatform.monitoring.bands import OK, ModelThresholds, Thresholds, worst
from mlplatform.monitoring.frames import NUMERIC
from mlplatform.monitoring.profile import ColumnProfile, Profile
from mlplatform.monitoring.stats import TestResult, chi_square_test, js_distance, ks_test, psi, shares
from mlplatform.monitoring.summary import ColumnSummary, Summary, summarize, summarize_column

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ColumnDrift", "DriftReport", "compare", "compare_summary", "compare_column", "compare_column_summary"]


@dataclass(frozen=True)
class ColumnDrift:
    """Drift and data quality of one column (a feature or a model output).

    Attributes:
        feature: the column name; ``role``: feature, prediction or probability; ``kind``: numeric or categorical.
        rows, reference_rows: rows of the current sample and of the reference.
        null_rate, reference_null_rate, null_rate_change: current, reference, current minus reference.
        psi, js: on the reference bins (NaN when either side has no non-null values).
        test, statistic, p_value: the small-sample test (``ks`` or ``chi2``); None and NaN for a large sample.
        out_of_range_share: numeric: share of non-null values outside the reference [min, max].
        unseen_share: categorical: share of non-null values the reference never had.
        counts: current non-null values per reference bin (for plots).
        drift_status, quality_status, status: ``ok`` | ``warn`` | ``alert``.
        reasons: one phrase per band reached (and per PSI band a small sample's test did not confirm).
    """

    feature: str
    role: str
    kind: str
    rows: int
    reference_rows: int
    null_rate: float
    reference_null_rate: float
    null_rate_change: float
    psi: float
    js: float
    test: str | None
    statistic: float
    p_value: float
    out_of_range_share: float
    unseen_share: float
    counts: tuple[int, ...]
    drift_status: str
    quality_status: str
    status: str
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-serialisable values (NaN as None)."""
        out = asdict(self)
        out["counts"] = list(self.counts)
        out["reasons"] = list(self.reasons)
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


@dataclass(frozen=True)
class DriftReport:
    """Drift of one current sample against a model version's reference profile.

    Attributes:
        model, version: of the profile.
        rows: rows of the current feature frame; ``reference_rows``: of the profile's.
        previous_rows, rows_change: the previous run's rows when given, and ``rows / previous_rows - 1``.
        columns: features first, then outputs.
        status: the worst column status.
        computed_at: ISO 8601, UTC.
    """

    model: str | None
    version: str | None
    rows: int
    reference_rows: int
    columns: tuple[ColumnDrift, ...]
    status: str
    previous_rows: int | None = None
    rows_change: float = math.nan
    computed_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def column(self, name: str) -> ColumnDrift:
        """The result of column ``name``.

        Raises:
            MonitoringError: when the report has no such column.
        """
        for result in self.columns:
            if result.feature == name:
                return result
        raise MonitoringError(
            f"the drift report of model {self.model} has no column {name!r}",
            f"its columns are: {', '.join(c.feature for c in self.columns)}",
        )

    def flagged(self) -> list[ColumnDrift]:
        """The columns whose status is not ``ok``."""
        return [c for c in self.columns if c.status != OK]

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-serialisable dict per column (``mlp monitor --json``'s shape)."""
        return [c.to_dict() for c in self.columns]

    def to_frame(self) -> "pd.DataFrame":
        """One row per column (NaN kept as NaN; ``counts`` and ``reasons`` as lists)."""
        import pandas as pd

        return pd.DataFrame([asdict(c) for c in self.columns], columns=list(ColumnDrift.__dataclass_fields__))


def compare(
    profile: Profile,
    current: Any,
    predictions: Any = None,
    probabilities: Any = None,
    *,
    thresholds: ModelThresholds | None = None,
    previous_rows: int | None = None,
) -> DriftReport:
    """Drift and data quality of ``current`` (and the model's outputs on it) against ``profile``.

    The in-process engine: the sample is summarised in pandas (:func:`~.summary.summarize`)
    and the summary judged by :func:`compare_summary`.

    Args:
        profile: the model version's reference profile.
        current: the scored feature vectors (pandas DataFrame or pyarrow Table) holding every
            profiled feature; other columns (keys, timestamps) are ignored.
        predictions, probabilities: the model's outputs on ``current``, in the shapes
            :func:`~mlplatform.monitoring.profile.build_profile` takes; compared when given
            (outputs the profile has but the call does not give are left out).
        thresholds: the model's bands (:func:`~mlplatform.monitoring.config.model_thresholds`);
            default the built-in ones.
        previous_rows: rows of the previous run, for ``rows_change``.

    Raises:
        MonitoringError: naming the model when a profiled feature is missing from ``current``,
            an output is not in the profile, or ``thresholds`` names a column the profile lacks.
    """
    thresholds = thresholds or ModelThresholds()
    thresholds.check_columns([c.name for c in profile.columns()], profile.subject)
    summary = summarize(profile, current, predictions, probabilities, thresholds=thresholds)
    return compare_summary(profile, summary, thresholds=thresholds, previous_rows=previous_rows)


def compare_summary(
    profile: Profile,
    summary: Summary,
    *,
    thresholds: ModelThresholds | None = None,
    previous_rows: int | None = None,
) -> DriftReport:
    """The :class:`DriftReport` of a current sample's :class:`~.summary.Summary` (from pandas or Spark).

    Raises:
        MonitoringError: when ``thresholds`` names a column the profile lacks, or the summary
            has a column the profile does not.
    """
    thresholds = thresholds or ModelThresholds()
    thresholds.check_columns([c.name for c in profile.columns()], profile.subject)
    references = {c.name: c for c in profile.columns()}
    results = []
    for name, column in summary.columns.items():
        if name not in references:
            raise MonitoringError(
                f"the summary of a current sample for {profile.subject} has column {name!r}, which is not profiled",
                f"summarise the sample against this profile; its columns are: {', '.join(references)}",
            )
        results.append(compare_column_summary(references[name], column, thresholds.get(name)))
    change = summary.rows / previous_rows - 1 if previous_rows else math.nan
    return DriftReport(
        model=profile.model,
        version=profile.version,
        rows=summary.rows,
        reference_rows=profile.rows,
        columns=tuple(results),
        status=worst(r.status for r in results),
        previous_rows=previous_rows,
        rows_change=change,
    )


def compare_column(reference: ColumnProfile, values: "pd.Series", thresholds: Thresholds) -> ColumnDrift:
    """Drift and data quality of one current column against its reference profile."""
    summary = summarize_column(reference, values, thresholds.small_sample_rows)
    return compare_column_summary(reference, summary, thresholds)


def compare_column_summary(reference: ColumnProfile, summary: ColumnSummary, thresholds: Thresholds) -> ColumnDrift:
    """Drift and data quality of one current column, from its summary, against its reference profile.

    Raises:
        MonitoringError: when a small numeric sample's summary lacks the values its KS test needs.
    """
    import numpy as np

    rows, non_null, counts = summary.rows, summary.non_null, np.asarray(summary.counts, dtype="int64")
    small = non_null <= thresholds.small_sample_rows
    outside = unseen = math.nan
    if reference.kind == NUMERIC:
        if non_null:
            outside = summary.outside / non_null
        test = None
        if small:
            if summary.values is None:
                raise MonitoringError(
                    f"the summary of column {reference.name!r} ({non_null} values) lacks the values of its KS test",
                    "summarise it with the same small_sample_rows as the thresholds it is compared with",
                )
            test = ks_test(np.asarray(reference.sample, dtype="float64"), np.asarray(summary.values, dtype="float64"))
    else:
        if non_null and reference.seen_complete:
            unseen = summary.outside / non_null
        test = chi_square_test(np.asarray(reference.counts), counts) if small else None
    null_rate = (rows - non_null) / rows if rows else math.nan
    reference_shares = reference.shares()
    current_shares = shares(counts)
    drift = psi(reference_shares, current_shares)
    distance = js_distance(reference_shares, current_shares)
    change = null_rate - reference.null_rate
    reasons: list[str] = []
    drift_status = _drift_status(drift, test, thresholds, non_null, reasons)
    quality = [
        _banded("null rate increase", change, thresholds.null_rate_increase, reasons),
        _banded("share out of the reference range", outside, thresholds.out_of_range, reasons),
        _banded("share of unseen categories", unseen, thresholds.unseen, reasons),
    ]
    quality_status = worst(quality)
    return ColumnDrift(
        feature=reference.name,
        role=reference.role,
        kind=reference.kind,
        rows=rows,
        reference_rows=reference.rows,
        null_rate=null_rate,
        reference_null_rate=reference.null_rate,
        null_rate_change=change,
        psi=drift,
        js=distance,
        test=test.name if test else None,
        statistic=test.statistic if test else math.nan,
        p_value=test.p_value if test else math.nan,
        out_of_range_share=outside,
        unseen_share=unseen,
        counts=tuple(int(c) for c in counts),
        drift_status=drift_status,
        quality_status=quality_status,
        status=worst([drift_status, quality_status]),
        reasons=tuple(reasons),
    )


def _banded(what: str, value: float, band: Any, reasons: list[str]) -> str:
    status = band.status(value)
    if status != OK:
        limit = band.alert if status == "alert" else band.warn
        reasons.append(f"{what} {value:.4g} >= {status} {limit:g}")
    return status


def _drift_status(value: float, test: TestResult | None, thresholds: Thresholds, rows: int, reasons: list[str]) -> str:
    status = thresholds.psi.status(value)
    if status == OK:
        return OK
    limit = thresholds.psi.alert if status == "alert" else thresholds.psi.warn
    phrase = f"psi {value:.4g} >= {status} {limit:g}"
    if test is not None and not math.isnan(test.p_value) and test.p_value >= thresholds.alpha:
        reasons.append(f"{phrase}, but {test.name} p={test.p_value:.3g} >= alpha {thresholds.alpha:g} on {rows} rows")
        return OK
    reasons.append(phrase if test is None else f"{phrase} ({test.name} p={test.p_value:.3g})")
    return status
