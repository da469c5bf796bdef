"""Statuses and the bands that give them: ``ok`` below warn, ``warn`` from warn, ``alert`` from alert.

Plain values (no pydantic, no YAML), so the drift check runs wherever the scored rows are;
:mod:`mlplatform.monitoring.config` reads them from ``conf/monitoring.yaml``.

Defaults: PSI 0.1 warn / 0.25 alert; null-rate increase, share out of the reference range
and share of unseen categories 0.05 warn / 0.2 alert each; a column with at most 10,000
non-null current values is a small sample, whose drift status also needs its statistical
test to reject at ``alpha`` = 0.01.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from mlplatform.errors import MonitoringError

__all__ = [
    "OK",
    "WARN",
    "ALERT",
    "STATUSES",
    "Band",
    "Thresholds",
    "ModelThresholds",
    "worst",
]

OK = "ok"
WARN = "warn"
ALERT = "alert"
STATUSES = (OK, WARN, ALERT)


def worst(statuses: Iterable[str]) -> str:
    """The most severe of ``statuses`` (``ok`` for none)."""
    return max(statuses, key=STATUSES.index, default=OK)


@dataclass(frozen=True)
class Band:
    """A measure is ``warn`` from ``warn`` and ``alert`` from ``alert`` (both inclusive); NaN is ``ok``."""

    warn: float
    alert: float

    def __post_init__(self) -> None:
        if not (0 <= self.warn <= self.alert):
            raise MonitoringError(f"band warn={self.warn} alert={self.alert} is not valid", "give 0 <= warn <= alert")

    def status(self, value: float) -> str:
        """The status of ``value`` in this band."""
        if value is None or math.isnan(value):
            return OK
        if value >= self.alert:
            return ALERT
        return WARN if value >= self.warn else OK


@dataclass(frozen=True)
class Thresholds:
    """The bands and test settings for one column.

    Attributes:
        psi: band of the population stability index.
        null_rate_increase: band of the current null rate minus the reference one.
        out_of_range: band of the share of non-null numeric values outside the reference [min, max].
        unseen: band of the share of non-null categorical values the reference never had.
        small_sample_rows: a column with at most this many non-null current values is a small
            sample: its PSI band counts only when the statistical test rejects at ``alpha``.
        alpha: significance level of that test.
    """

    psi: Band = Band(0.1, 0.25)
    null_rate_increase: Band = Band(0.05, 0.2)
    out_of_range: Band = Band(0.05, 0.2)
    unseen: Band = Band(0.05, 0.2)
    small_sample_rows: int = 10_000
    alpha: float = 0.01


@dataclass(frozen=True)
class ModelThresholds:
    """The thresholds of one model: its defaults and per-feature overrides (already merged).

    Attributes:
        default: for every column without an override (outputs included).
        columns: by feature or output name.
        source: where they were read from, for messages (e.g. ``conf/monitoring.yaml``).
    """

    default: Thresholds = Thresholds()
    columns: Mapping[str, Thresholds] = field(default_factory=dict)
    source: str = "the built-in defaults"

    def get(self, column: str) -> Thresholds:
        """The thresholds of ``column``."""
        return self.columns.get(column, self.default)

    def check_columns(self, known: Iterable[str], subject: str) -> None:
        """Refuse overrides of columns the profile does not have.

        Raises:
            MonitoringError: naming ``subject`` (the model), the unknown column(s) and the known ones.
        """
        names = list(known)
        unknown = sorted(set(self.columns) - set(names))
        if unknown:
            raise MonitoringError(
                f"{self.source}: {subject} has no feature(s) {', '.join(map(repr, unknown))} to set thresholds for",
                f"fix or remove the name under features:; the profiled columns are: {', '.join(names)}",
            )
