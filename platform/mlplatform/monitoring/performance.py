"""Realized performance in a Delta table: ``<warehouse>/_platform/monitoring/performance`` (deltalake, no Spark).

One row per (model, version, run date, metric): the metric measured on the scores of that
run date whose labels have landed, the model version's recorded threshold for it (if any)
and a status — ``ok``, ``alert`` (on the wrong side of the threshold) or ``undefined`` (too
few labelled rows or a single class: the metric has no value). Writing a model's
performance again replaces all of its rows, so a nightly re-run is idempotent and late
labels update the run dates they judge.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Sequence

from mlplatform import tables
from mlplatform.config import Settings
from mlplatform.errors import MonitoringError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "OK",
    "ALERT",
    "UNDEFINED",
    "PERFORMANCE_COLUMNS",
    "RealizedMetric",
    "performance_table",
    "write_performance",
    "read_performance",
]

log = logging.getLogger(__name__)

OK, ALERT, UNDEFINED = "ok", "alert", "undefined"


@dataclass(frozen=True)
class RealizedMetric:
    """One metric of one model version on the labelled scores of one run date."""

    model: str
    version: str
    run_date: str
    metric: str
    value: float
    threshold: str | None  # e.g. "roc_auc >= 0.7": the version's recorded bar, None when it has none
    status: str  # ok | alert | undefined
    rows: int  # scores of the run date
    labelled_rows: int  # of which a label has landed
    positives: int
    computed_at: str


PERFORMANCE_COLUMNS = list(RealizedMetric.__dataclass_fields__)


def performance_table(settings: Settings) -> str:
    """URI of the realized-performance table."""
    return tables.table_uri(settings, "_platform", "monitoring", "performance")


def write_performance(
    settings: Settings, model: str, rows: Sequence[RealizedMetric], job_run: str | None = None
) -> int:
    """Replace every realized-performance row of ``model`` with ``rows``; return the table version."""
    import pandas as pd

    if any(r.model != model for r in rows):
        raise MonitoringError(
            f"realized performance of '{model}' holds rows of other models",
            "write each model's rows separately",
        )
    frame = pd.DataFrame([asdict(r) for r in rows], columns=PERFORMANCE_COLUMNS)
    frame = frame.astype({"value": "float64", "rows": "int64", "labelled_rows": "int64", "positives": "int64"})
    frame[["model", "version", "run_date", "metric", "threshold", "status", "computed_at"]] = frame[
        ["model", "version", "run_date", "metric", "threshold", "status", "computed_at"]
    ].astype("string")
    written = tables.write_pandas(
        frame,
        performance_table(settings),
        replace_where="model = '" + model.replace("'", "''") + "'",
        metadata=tables.commit_metadata(job="monitoring-performance", run_id=job_run),
        description="Realized performance: one row per (model, version, run date, metric) once labels landed.",
    )
    log.debug("stored %d realized-performance row(s) of model %s", len(frame), model)
    return written


def read_performance(settings: Settings, model: str, version: str | int | None = None) -> "pd.DataFrame":
    """The realized-performance rows of ``model`` (one version's when given), by run date; empty when none."""
    import pandas as pd

    uri = performance_table(settings)
    if not tables.exists(uri):
        return pd.DataFrame(columns=PERFORMANCE_COLUMNS)
    filters = [("model", "=", model)] + ([("version", "=", str(version))] if version is not None else [])
    frame = tables.to_pandas(uri, filters=filters)
    return frame.sort_values(["run_date", "version", "metric"], kind="stable").reset_index(drop=True)
