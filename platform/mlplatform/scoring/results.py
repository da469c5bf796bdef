"""Scoring results as pandas, without Spark or a JVM (deltalake reads the scores tables).

Each registered model has one scores table, ``<warehouse>/scores/<model>``,
partitioned by ``run_date``; one Delta version per scoring run.

Example::

    from mlplatform.scoring import results
    latest = results.read("churn")                          # the latest run date
    june = results.read("churn", run_date="2024-06-30")     # one run date
    everything = results.read("churn", run_date="all")
    results.runs("churn")                                   # one row per run date
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, Sequence

from mlplatform import storage, tables
from mlplatform.config import Settings, load_settings
from mlplatform.errors import ScoringError
from mlplatform.scoring.batch import parse_run_date
from mlplatform.tracking.model_registry import parse_ref

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read", "read_features", "runs", "describe", "tables_summary", "run_dates", "RUN_COLUMNS"]

RUN_COLUMNS = [
    "run_date",
    "rows",
    "model_version",
    "env_id",
    "input_table",
    "input_version",
    "scoring_run_id",
    "scored_at",
]


def _table(model: str, settings: Settings | None, area: str = "scores") -> str:

    settings = settings or load_settings()
    name = parse_ref(model).name
    uri = tables.table_uri(settings, area, name)
    if not tables.exists(uri):
        what = "scores table" if area == "scores" else "scoring-set table (scored feature vectors)"
        raise ScoringError(
            f"model '{name}' has no {what} at {uri}",
            f"score it first: mlp score {name}@champion --run-date YYYY-MM-DD"
            + (" (from the feature repository, without --input)" if area != "scores" else ""),
        )
    return uri


def run_dates(
    model: str, settings: Settings | None = None, version: int | None = None, area: str = "scores"
) -> list[date]:
    """The run dates present in the scores table (or ``area="scoring_sets"``: the scoring-set table), oldest first."""

    frame = tables.to_pandas(_table(model, settings, area), columns=["run_date"], version=version)
    return sorted(
        {d if isinstance(d, date) else date.fromisoformat(str(d)) for d in frame["run_date"].dropna().unique()}
    )


def read(
    model: str,
    run_date: str | date | None = None,
    settings: Settings | None = None,
    columns: Sequence[str] | None = None,
    version: int | None = None,
    limit: int | None = None,
) -> "pd.DataFrame":
    """The scores of ``model`` as a pandas DataFrame.

    Args:
        model: model name (``churn``; a ``churn@champion`` reference is reduced to its name).
        run_date: ``YYYY-MM-DD``; default the latest run date; ``"all"`` for every date.
        columns: columns to return (default all).
        version: read this version of the scores table (``scores:<model>@v<n>``).
        limit: at most this many rows.

    Raises:
        ScoringError: no scores table for the model, or no rows for that run date
            (the message lists the run dates there are).
    """

    return _read("scores", model, run_date, settings, columns, version, limit)


def read_features(
    model: str,
    run_date: str | date | None = None,
    settings: Settings | None = None,
    columns: Sequence[str] | None = None,
    version: int | None = None,
    limit: int | None = None,
) -> "pd.DataFrame":
    """The feature vectors a feature-repository run scored (``<warehouse>/scoring_sets/<model>``), as pandas.

    One row per entity: its keys, ``as_of``, the model's features as known then, and the run's
    ``model_version``, ``scoring_run_id`` and ``run_date`` (join them to :func:`read` on the keys,
    ``as_of`` and ``run_date``). Arguments and errors as :func:`read`.
    """
    return _read("scoring_sets", model, run_date, settings, columns, version, limit)


def _read(
    area: str,
    model: str,
    run_date: str | date | None,
    settings: Settings | None,
    columns: Sequence[str] | None,
    version: int | None,
    limit: int | None,
) -> "pd.DataFrame":
    uri = _table(model, settings, area)
    filters: list[tuple[str, str, Any]] | None = None
    if run_date != "all":
        dates = run_dates(model, settings, version, area)
        if not dates:
            return tables.to_pandas(uri, columns=columns, version=version, limit=limit)
        day = dates[-1] if run_date is None else parse_run_date(run_date)
        if day not in dates:
            known = ", ".join(d.isoformat() for d in dates[-10:])
            raise ScoringError(
                f"model '{uri.rsplit('/', 1)[-1]}' has no {area.replace('_', ' ')} for run date {day.isoformat()}",
                f"run dates present (latest 10): {known}",
            )
        filters = [("run_date", "=", day)]
    return tables.to_pandas(uri, columns=columns, filters=filters, version=version, limit=limit)


def runs(model: str, settings: Settings | None = None) -> "pd.DataFrame":
    """One row per run date: rows, model version, env, input table and version, run id, time."""

    frame = tables.to_pandas(_table(model, settings), columns=[c for c in RUN_COLUMNS if c != "rows"])
    if frame.empty:
        return frame.reindex(columns=RUN_COLUMNS)
    keys = [c for c in RUN_COLUMNS if c != "rows"]
    grouped = frame.groupby(keys, dropna=False).size().reset_index(name="rows")
    return grouped[RUN_COLUMNS].sort_values("run_date").reset_index(drop=True)


def describe(model: str, settings: Settings | None = None, history: int = 10) -> dict[str, Any]:
    """Location, version, columns, row count and the latest commits of the model's scores table."""

    uri = _table(model, settings)
    info = tables.describe(uri)
    commits = tables.history(uri, limit=history)
    name = uri.rsplit("/", 1)[-1]
    return {
        "table": uri,
        "id": f"scores:{name}@v{info.version}",
        "version": info.version,
        "rows": info.num_rows,
        "run_dates": len(run_dates(model, settings)),
        "columns": [{"name": c.name, "type": c.type} for c in info.columns],
        "partition_columns": info.partition_columns,
        "history": [
            {
                "version": c.version,
                "timestamp": c.timestamp.isoformat(timespec="seconds"),
                "operation": c.operation,
                "run_date": c.metadata.get("run_date"),
                "model": c.metadata.get("model"),
                "run_id": c.metadata.get("run_id"),
                "rows": c.operation_metrics.get("numOutputRows"),
            }
            for c in commits
        ],
    }


def tables_summary(settings: Settings | None = None) -> "pd.DataFrame":
    """One row per scores table: model, latest run date, run dates, rows, table version."""
    import pandas as pd

    settings = settings or load_settings()
    root = tables.table_uri(settings, "scores", "x").rsplit("/", 1)[0]
    names = sorted(storage.listdir(root, settings)) if storage.exists(root, settings) else []
    rows = []
    for name in names:
        uri = tables.table_uri(settings, "scores", name)
        if not tables.exists(uri):
            continue
        info = tables.describe(uri)
        dates = run_dates(name, settings)
        rows.append(
            {
                "model": name,
                "latest_run_date": dates[-1] if dates else None,
                "run_dates": len(dates),
                "rows": info.num_rows,
                "table_version": info.version,
            }
        )
    return pd.DataFrame(rows, columns=["model", "latest_run_date", "run_dates", "rows", "table_version"])
