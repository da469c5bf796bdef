"""What ``mlp monitor`` shows of one model: the drift rows of one run, PSI over run dates, realized performance.

:func:`monitor_view` picks the run (the latest run date measured unless one is named; the
version measured last on that date unless one is named; batch rows unless ``source`` says
otherwise) and refuses, in one line naming the model, what it cannot show. Realized
performance is :func:`mlplatform.monitoring.performance.read_performance`'s. Reads go
through :mod:`mlplatform.monitoring.store` and :mod:`mlplatform.tables` (deltalake, no Spark).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlplatform import tables
from mlplatform.config import Settings
from mlplatform.dates import parse_run_date
from mlplatform.errors import MonitoringError, NoProfileError
from mlplatform.monitoring.frames import FEATURE, PREDICTION, PROBABILITY
from mlplatform.monitoring.store import SOURCES, profiles_table, read_drift

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MonitorView", "monitor_view"]

_COUNTS = ("rows", "reference_rows", "report_rows", "previous_rows")  # read back as floats when a null is stored
_ROLES = {FEATURE: 0, PREDICTION: 1, PROBABILITY: 2}  # features first, then the outputs


@dataclass(frozen=True)
class MonitorView:
    """The drift of one run of a model and the runs around it.

    Attributes:
        model, version, run_date: the run shown (``run_date`` as ``YYYY-MM-DD``).
        source: ``batch`` or ``online``.
        rows: its drift rows, one per feature and output, in the drift table's columns
            (``counts`` and ``reasons`` as JSON text).
        history: every run date of the model from that source: ``run_date``, ``version``,
            ``feature``, ``role``, ``psi``, ``status`` (the version measured last on each date).
        other_versions: further versions measured on the same run date.
    """

    model: str
    version: str
    run_date: str
    source: str
    rows: "pd.DataFrame"
    history: "pd.DataFrame"
    other_versions: tuple[str, ...] = ()

    @property
    def subject(self) -> str:
        """``model:<name>@<version>``."""
        return f"model:{self.model}@{self.version}"

    @property
    def status(self) -> str:
        """The run's overall status."""
        return str(self.rows["report_status"].iloc[0])

    @property
    def scored_rows(self) -> int:
        """Rows the run scored."""
        return int(self.rows["report_rows"].iloc[0])

    def records(self) -> list[dict[str, Any]]:
        """One JSON-ready object per row: every stored measure, NaN as None, ``counts`` and ``reasons`` as lists."""
        out = []
        for record in self.rows.astype(object).where(self.rows.notna(), None).to_dict("records"):
            record = {k: v.item() if hasattr(v, "item") else v for k, v in record.items()}
            for name in _COUNTS:
                record[name] = None if record.get(name) is None else int(record[name])
            record["counts"] = json.loads(record["counts"] or "[]")
            record["reasons"] = json.loads(record["reasons"] or "[]")
            out.append(record)
        return out


def _score_hint(model: str, run_date: str | None, version: str | int | None = None) -> str:
    return (
        f"run mlp score {model}@{version or 'champion'} --run-date {run_date or 'YYYY-MM-DD'} first "
        "(from the feature repository: a run with --input measures no drift)"
    )


def _profiled_versions(settings: Settings, model: str) -> list[str]:
    uri = profiles_table(settings)
    if not tables.exists(uri):
        return []
    rows = tables.to_pandas(uri, columns=["version"], filters=[("model", "=", model)])
    return _numbered(rows["version"])


def _numbered(versions: Any) -> list[str]:
    """Distinct version strings, in numeric order."""
    return sorted({str(v) for v in versions}, key=lambda v: (len(v), v))


def _latest_per_date(rows: "pd.DataFrame") -> "pd.DataFrame":
    """Per (run date, feature) the row of the version measured last that day."""
    ordered = rows.sort_values(["run_date", "computed_at"], kind="stable")
    last = ordered.groupby("run_date")["version"].transform("last")
    return ordered[ordered["version"] == last]


def monitor_view(
    settings: Settings,
    model: str,
    run_date: str | None = None,
    version: str | int | None = None,
    source: str = "batch",
) -> MonitorView:
    """The drift of ``model``'s run on ``run_date`` (default the latest measured) and its PSI over run dates.

    Raises:
        NoProfileError: the model has neither drift nor a reference profile (exit code 3).
        MonitoringError: nothing measured for the model, the source, the version or the run date,
            or a run date that is not ``YYYY-MM-DD``; each names the model and what to run.
    """
    if source not in SOURCES:
        raise MonitoringError(f"drift source {source!r} of model {model} is not known", "pick batch or online")
    day = None if run_date is None else parse_run_date(run_date, MonitoringError).isoformat()
    every = read_drift(settings, model, source=None)
    if every.empty:
        if not _profiled_versions(settings, model):
            raise NoProfileError(
                f"model {model} has no reference profile and no drift measured",
                f"train and register it with mlp train {model} (versions registered before profiles were kept "
                "have none: retrain them), then score it",
            )
        raise MonitoringError(f"no drift measured for model {model} yet", _score_hint(model, day))
    rows = every[every["source"] == source]
    if rows.empty:
        hint = (
            f"ingest its inference log first: mlp monitor ingest {model} --from DIR"
            if source == "online"
            else _score_hint(model, day)
        )
        raise MonitoringError(f"no {source} drift measured for model {model}", hint)
    history = _latest_per_date(rows)[["run_date", "version", "feature", "role", "psi", "status"]]
    if version is not None:
        measured = _numbered(rows["version"])
        rows = rows[rows["version"] == str(version)]
        if rows.empty:
            raise MonitoringError(
                f"no {source} drift measured for model:{model}@{version} (measured versions: {', '.join(measured)})",
                _score_hint(model, day, version),
            )
    dates = sorted(set(rows["run_date"]))
    if day is None:
        day = dates[-1]
    elif day not in dates:
        shown = ", ".join(dates[-5:]) + (f" (and {len(dates) - 5} earlier)" if len(dates) > 5 else "")
        subject = f"model:{model}@{version}" if version is not None else f"model {model}"
        raise MonitoringError(
            f"no {source} drift measured for {subject} on {day} (measured: {shown})",
            _score_hint(model, day, version),
        )
    rows = rows[rows["run_date"] == day]
    chosen = str(rows.sort_values("computed_at", kind="stable")["version"].iloc[-1])
    others = tuple(v for v in _numbered(rows["version"]) if v != chosen)
    order = rows["role"].map(_ROLES).fillna(len(_ROLES))
    rows = rows[rows["version"] == chosen].assign(_order=order).sort_values(["_order", "feature"], kind="stable")
    rows = rows.drop(columns="_order").reset_index(drop=True)
    return MonitorView(model, chosen, day, source, rows, history.reset_index(drop=True), others)
