"""What a Delta table's log records, read from its JSON commits (no Delta reader in between)."""

from __future__ import annotations

import json
from pathlib import Path


def stats_columns_written(uri: str) -> set[str]:
    """Columns with min/max statistics in the first commit's add actions, read from the Delta log's JSON."""
    log = Path(uri) / "_delta_log" / "00000000000000000000.json"
    adds = [json.loads(line)["add"] for line in log.read_text().splitlines() if '"add"' in line]
    stats = [json.loads(a["stats"]) for a in adds if a.get("stats")]
    assert stats, f"no file statistics in {log}"
    return set().union(*(s.get("minValues", {}).keys() for s in stats))
