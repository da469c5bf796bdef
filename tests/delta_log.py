"""What a Delta table's log records, read from its JSON commits (no Delta reader in between), and its files' footers."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote


def _first_adds(uri: str) -> tuple[Path, list[dict]]:
    """The first commit's file and its add actions."""
    log = Path(uri) / "_delta_log" / "00000000000000000000.json"
    return log, [json.loads(line)["add"] for line in log.read_text().splitlines() if '"add"' in line]


def stats_columns_written(uri: str) -> set[str]:
    """Columns with min/max statistics in the first commit's add actions, read from the Delta log's JSON."""
    log, adds = _first_adds(uri)
    stats = [json.loads(a["stats"]) for a in adds if a.get("stats")]
    assert stats, f"no file statistics in {log}"
    return set().union(*(s.get("minValues", {}).keys() for s in stats))


def parquet_stats_columns(uri: str) -> set[str]:
    """Columns with Parquet min/max statistics in every row group of the first commit's files (their footers)."""
    import pyarrow.parquet as pq

    log, adds = _first_adds(uri)
    assert adds, f"no files added in {log}"
    found: list[set[str]] = []
    for add in adds:
        meta = pq.ParquetFile(Path(uri) / unquote(add["path"])).metadata
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            columns = (group.column(i) for i in range(group.num_columns))
            found.append({c.path_in_schema for c in columns if c.is_stats_set and c.statistics.has_min_max})
    return set.intersection(*found)
