"""Profiles and drift results in Delta tables under ``<warehouse>/_platform/monitoring/`` (deltalake, no Spark).

- ``profiles``: one row per (model, version, feature): its position, the column's summary and its whole
  :class:`~mlplatform.monitoring.profile.ColumnProfile` as JSON (``profile``), the profile's
  settings as JSON; writing a version's profile again replaces it.
- ``drift``: one row per (model, version, run date, feature) of a
  :class:`~mlplatform.monitoring.drift.DriftReport`: every measure, the statuses, the
  report's overall status and row counts; writing the same (model, version, run date)
  again replaces it, so a re-run nightly job is idempotent. ``source`` tells a batch
  scoring run's rows (``batch``) from the inference log's (``online``,
  :mod:`mlplatform.monitoring.inference`); each replaces only its own. Rows written before
  the column existed read as ``batch``.

Both are plain Delta tables: ``tables.to_pandas`` (or Spark) reads them.
"""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any

from mlplatform import tables
from mlplatform.config import Settings
from mlplatform.dates import parse_run_date
from mlplatform.errors import MonitoringError, NoProfileError
from mlplatform.monitoring.drift import DriftReport
from mlplatform.monitoring.profile import FORMAT_VERSION, ColumnProfile, Profile

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SOURCES",
    "PROFILE_COLUMNS",
    "DRIFT_COLUMNS",
    "profiles_table",
    "drift_table",
    "write_profile",
    "read_profile",
    "write_drift",
    "read_drift",
]

log = logging.getLogger(__name__)

PROFILE_COLUMNS = [
    "model",
    "version",
    "feature",
    "position",
    "role",
    "kind",
    "rows",
    "nulls",
    "null_rate",
    "min",
    "max",
    "profile",
    "settings",
    "format_version",
    "created_at",
]

DRIFT_COLUMNS = [
    "model",
    "version",
    "run_date",
    "feature",
    "role",
    "kind",
    "rows",
    "reference_rows",
    "null_rate",
    "reference_null_rate",
    "null_rate_change",
    "psi",
    "js",
    "test",
    "statistic",
    "p_value",
    "out_of_range_share",
    "unseen_share",
    "counts",
    "drift_status",
    "quality_status",
    "status",
    "reasons",
    "report_status",
    "report_rows",
    "previous_rows",
    "computed_at",
    "source",
]
SOURCES = ("batch", "online")


def profiles_table(settings: Settings) -> str:
    """URI of the reference-profile table."""
    return tables.table_uri(settings, "_platform", "monitoring", "profiles")


def drift_table(settings: Settings) -> str:
    """URI of the drift-result table."""
    return tables.table_uri(settings, "_platform", "monitoring", "drift")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _named(profile: Profile) -> tuple[str, str]:
    if not profile.model or profile.version is None:
        raise MonitoringError(
            "the profile to store names no model version",
            "build it with build_profile(..., model=NAME, version=V) or call profile.with_model(NAME, V)",
        )
    return profile.model, profile.version


def write_profile(settings: Settings, profile: Profile, job_run: str | None = None) -> int:
    """Store ``profile`` as the reference of its model version (replacing a stored one); return the table version.

    Raises:
        MonitoringError: when the profile names no model and version.
    """
    import pandas as pd

    model, version = _named(profile)
    stated = json.dumps(
        {
            "bins": profile.bins,
            "top_k": profile.top_k,
            "sample_size": profile.sample_size,
            "max_seen": profile.max_seen,
        },
        sort_keys=True,
    )
    frame = pd.DataFrame(
        [
            {
                "model": model,
                "version": version,
                "feature": column.name,
                "position": position,
                "role": column.role,
                "kind": column.kind,
                "rows": column.rows,
                "nulls": column.nulls,
                "null_rate": column.null_rate,
                "min": math.nan if column.minimum is None else column.minimum,
                "max": math.nan if column.maximum is None else column.maximum,
                "profile": json.dumps(column.to_dict(), allow_nan=False),
                "settings": stated,
                "format_version": profile.format_version,
                "created_at": profile.created_at,
            }
            for position, column in enumerate(profile.columns())
        ],
        columns=PROFILE_COLUMNS,
    )
    frame = frame.astype({"position": "int64", "rows": "int64", "nulls": "int64", "format_version": "int64"})
    frame[["null_rate", "min", "max"]] = frame[["null_rate", "min", "max"]].astype("float64")
    written = tables.write_pandas(
        frame,
        profiles_table(settings),
        replace_where=f"model = {_quote(model)} AND version = {_quote(version)}",
        metadata=tables.commit_metadata(job="monitoring-profile", run_id=job_run),
        description="Reference profiles of model versions: one row per (model, version, feature).",
    )
    log.debug("stored the reference profile of model:%s@%s (%d columns)", model, version, len(frame))
    return written


def read_profile(settings: Settings, model: str, version: str | int) -> Profile:
    """The stored reference profile of ``model`` version ``version``.

    Raises:
        NoProfileError: naming the model version when none is stored.
        MonitoringError: when the stored profile has another format version.
    """
    uri = profiles_table(settings)
    version = str(version)
    rows = (
        tables.to_pandas(uri, filters=[("model", "=", model), ("version", "=", version)])
        if tables.exists(uri)
        else None
    )
    if rows is None or rows.empty:
        raise NoProfileError(
            f"model:{model}@{version} has no reference profile in {uri}",
            "register the version again, or build and store one: write_profile(settings, build_profile(...))",
        )
    formats = set(rows["format_version"].astype(int))
    if formats != {FORMAT_VERSION}:
        raise MonitoringError(
            f"the stored profile of model:{model}@{version} has format version(s) {sorted(formats)}; "
            f"this platform reads format {FORMAT_VERSION}",
            "upgrade mlplatform to read newer profiles, or rebuild and store the profile with this one",
        )
    rows = rows.sort_values("position", kind="stable")
    columns = [ColumnProfile.from_dict(json.loads(text)) for text in rows["profile"]]
    stated = json.loads(rows["settings"].iloc[0])
    return Profile(
        features={c.name: c for c in columns if c.role == "feature"},
        outputs={c.name: c for c in columns if c.role != "feature"},
        model=model,
        version=version,
        created_at=str(rows["created_at"].iloc[0]),
        **{k: int(v) for k, v in stated.items()},
    )


def _records(report: DriftReport, run_date: str) -> list[dict[str, Any]]:
    return [
        {
            **{k: v for k, v in column.__dict__.items() if k not in ("counts", "reasons")},
            "model": report.model,
            "version": report.version,
            "run_date": run_date,
            "counts": json.dumps(list(column.counts)),
            "reasons": json.dumps(list(column.reasons)),
            "report_status": report.status,
            "report_rows": report.rows,
            "previous_rows": report.previous_rows,
            "computed_at": report.computed_at,
        }
        for column in report.columns
    ]


def _with_source_column(uri: str) -> None:
    """Add ``source`` to a drift table written before it existed (its rows read as batch)."""
    import pandas as pd

    if tables.exists(uri) and "source" not in {c.name for c in tables.describe(uri).columns}:
        tables.write_pandas(
            pd.DataFrame({"source": pd.Series([], dtype="string")}),
            uri,
            merge_schema=True,
            metadata=tables.commit_metadata(job="monitoring-drift"),
        )


def write_drift(
    settings: Settings,
    report: DriftReport,
    run_date: str | None = None,
    job_run: str | None = None,
    source: str = "batch",
) -> int:
    """Store ``report`` as the drift of its model version on ``run_date`` (replacing a stored one of ``source``).

    Args:
        run_date: ``YYYY-MM-DD`` (default today, UTC).
        job_run: the run that computed it, for the commit metadata.
        source: ``batch`` (a scoring run) or ``online`` (the inference log).

    Returns:
        The version of the drift table.

    Raises:
        MonitoringError: when the report names no model version.
    """
    import pandas as pd

    if not report.model or report.version is None:
        raise MonitoringError(
            "the drift report to store names no model version",
            "compare against a profile built with model= and version= (or profile.with_model(NAME, V))",
        )
    if source not in SOURCES:
        raise MonitoringError(f"drift source '{source}' is not one of {', '.join(SOURCES)}", "pass batch or online")
    day = parse_run_date(run_date, MonitoringError).isoformat()
    frame = pd.DataFrame(_records(report, day), columns=DRIFT_COLUMNS)
    frame["source"] = pd.Series([source] * len(frame), dtype="string")
    floats = [
        "null_rate",
        "reference_null_rate",
        "null_rate_change",
        "psi",
        "js",
        "statistic",
        "p_value",
        "out_of_range_share",
        "unseen_share",
    ]
    frame[floats] = frame[floats].astype("float64")
    frame = frame.astype({"rows": "int64", "reference_rows": "int64", "report_rows": "int64"})
    frame["previous_rows"] = frame["previous_rows"].astype("Int64")
    frame["test"] = frame["test"].astype("string")
    uri = drift_table(settings)
    _with_source_column(uri)
    same_source = "(source = 'batch' OR source IS NULL)" if source == "batch" else f"source = {_quote(source)}"
    written = tables.write_pandas(
        frame,
        uri,
        replace_where=(
            f"model = {_quote(report.model)} AND version = {_quote(report.version)} AND run_date = {_quote(day)}"
            f" AND {same_source}"
        ),
        metadata=tables.commit_metadata(job="monitoring-drift", run_id=job_run),
        description="Drift and data quality per (model, version, run date, feature) against the reference profile.",
    )
    log.debug("stored %s drift of model:%s@%s on %s: %s", source, report.model, report.version, day, report.status)
    return written


def read_drift(
    settings: Settings,
    model: str,
    run_date: str | None = None,
    version: str | int | None = None,
    source: str | None = "batch",
) -> "pd.DataFrame":
    """Stored drift rows of ``model`` (optionally of one run date and version), by run date and feature.

    ``counts`` and ``reasons`` are JSON text; an empty frame when nothing is stored.
    ``source``: ``batch`` (default: scoring runs), ``online`` (the inference log) or None (both).
    """
    import pandas as pd

    uri = drift_table(settings)
    if not tables.exists(uri):
        return pd.DataFrame(columns=DRIFT_COLUMNS)
    filters: list[tuple[str, str, Any]] = [("model", "=", model)]
    if run_date is not None:
        filters.append(("run_date", "=", parse_run_date(run_date, MonitoringError).isoformat()))
    if version is not None:
        filters.append(("version", "=", str(version)))
    rows = tables.to_pandas(uri, filters=filters)
    rows["source"] = rows["source"].fillna("batch") if "source" in rows else "batch"
    if source is not None:
        rows = rows[rows["source"] == source]
    return rows.sort_values(["run_date", "version", "feature"], kind="stable").reset_index(drop=True)
