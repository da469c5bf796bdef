"""Null and range statistics of a table's latest version, per column, for the feature set page.

From the Delta log's per-file statistics (``numRecords``, ``nullCount``, ``minValues``,
``maxValues``) when every file carries them for the column: no data file is read. A
column the log has no statistics for (Delta collects them for the first 32 columns) is
read from its first ``BOUNDED_ROWS`` rows with pyarrow, and says so.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from mlplatform.tables.handle import open_table

__all__ = ["BOUNDED_ROWS", "column_stats"]

log = logging.getLogger(__name__)

BOUNDED_ROWS = 100_000


def _from_log(files: Any, column: str) -> dict[str, Any] | None:
    """The column's statistics folded over every file, None when a file lacks them."""
    import pyarrow.compute as pc

    names = [f"null_count.{column}", f"min.{column}", f"max.{column}"]
    if any(n not in files.column_names for n in names) or files.num_rows == 0:
        return None
    nulls = files.column(names[0])
    records = files.column("num_records")
    if nulls.null_count or records.null_count:
        return None
    rows = pc.sum(records).as_py() or 0
    null_rows = pc.sum(nulls).as_py() or 0
    return {
        "rows": rows,
        "null_fraction": null_rows / rows if rows else None,
        "min": pc.min(files.column(names[1])).as_py(),
        "max": pc.max(files.column(names[2])).as_py(),
        "source": "Delta log",
    }


def _from_rows(dataset: Any, column: str) -> dict[str, Any]:
    import pyarrow.compute as pc

    values = dataset.head(BOUNDED_ROWS, columns=[column]).column(column)
    rows = len(values)
    try:
        bounds = pc.min_max(values).as_py() if rows else {"min": None, "max": None}
    except Exception as exc:  # noqa: BLE001 - a type with no order (a map, a struct) has no range
        log.debug("column %s has no min/max: %s", column, exc)
        bounds = {"min": None, "max": None}
    return {
        "rows": rows,
        "null_fraction": values.null_count / rows if rows else None,
        "min": bounds["min"],
        "max": bounds["max"],
        "source": f"first {rows:,} rows",
    }


def column_stats(uri: str, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Per column of ``columns``: ``rows``, ``null_fraction``, ``min``, ``max`` and where they come from."""
    import pyarrow as pa

    dt, _ = open_table(uri)
    files = pa.table(dt.get_add_actions(flatten=True))
    out, dataset = [], None
    for column in columns:
        found = _from_log(files, column)
        if found is None:
            dataset = dataset or dt.to_pyarrow_dataset()
            found = _from_rows(dataset, column)
        out.append({"column": column, **found})
    return out
