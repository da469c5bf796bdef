"""Benchmark: audit-log appends with the hash chain against today's plain append, and verify.

    .venv/bin/python scripts/bench/audit_chain.py [--appends N] [--verify-rows R]

Append: ``lineage.edges.record`` (one audit row per commit: read the chain head, link,
commit with the chain's transaction id) against the append the platform made before the
chain (``tables.write_pandas`` of the same row, same commit metadata), each into its own
table, alternating call by call in the same run; then the same two appends on tables
that already hold --verify-rows rows (the head lookup on a long log). Verify: ``mlp audit
verify``'s walk (``lineage.audit.verify``) of a log of --verify-rows chained rows, written
in commits of 1,000.

Targets (issue 21): chained append <= 1.2x the plain append per row; verify of 100,000 rows
< 5 s. Results: printed table and ``.mlp/bench/audit_chain.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import benchlib

REPO = Path(__file__).resolve().parents[2]


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _row(i: int) -> dict[str, Any]:
    return {
        "from_id": f"model:churn@{i}",
        "relation": "model",
        "to_id": f"scores:churn@v{i}",
        "action": "score",
        "job_run": f"bench-{i}",
        "actor": "bench",
        "at": datetime.now(timezone.utc),
        "details": json.dumps({"rows": i}),
    }


def _plain(uri: str, i: int) -> None:
    """The append ``record`` made before the chain: one pandas frame, ``tables.write_pandas``."""
    import pandas as pd

    from mlplatform import tables
    from mlplatform.lineage.edges import COLUMNS

    frame = pd.DataFrame([_row(i)], columns=COLUMNS)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    tables.write_pandas(frame, uri, mode="append", metadata=tables.commit_metadata(job="score", run_id=f"bench-{i}"))


def _appends(settings: Any, plain_uri: str, n: int, start: int) -> dict[str, list[float]]:
    from mlplatform.lineage.edges import Edge, record

    out: dict[str, list[float]] = {"chained": [], "plain": []}
    for i in range(start, start + n):
        edge = Edge(f"model:churn@{i}", "model", f"scores:churn@v{i}")
        calls = [
            ("chained", lambda: record(settings, [edge], "score", f"b-{i}")),
            ("plain", lambda: _plain(plain_uri, i)),
        ]
        for name, call in calls if i % 2 == 0 else reversed(calls):
            out[name].append(_timed(call))
    return out


def _fill(settings: Any, plain_uri: str, rows: int) -> None:
    """``rows`` chained rows in the lineage table and as many plain ones, in commits of 1,000."""
    import pandas as pd

    from mlplatform import tables
    from mlplatform.lineage import chain
    from mlplatform.lineage.edges import COLUMNS, lineage_table

    for start in range(0, rows, 1000):
        batch = [_row(i) for i in range(start, min(rows, start + 1000))]
        chain.append(lineage_table(settings), batch, COLUMNS, {"job": "bench-fill"})
        frame = pd.DataFrame(batch, columns=COLUMNS)
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        tables.write_pandas(frame, plain_uri, mode="append")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--appends", type=int, default=100, help="timed appends of each kind, per table size")
    parser.add_argument("--verify-rows", type=int, default=100_000)
    parser.add_argument("--home", type=Path, help="platform home for the run (default: a temporary one, removed)")
    benchlib.add_arguments(parser, __file__)
    args = parser.parse_args(argv)

    watch = benchlib.LoadWatch.from_args(args).start()
    home = args.home or Path(tempfile.mkdtemp(prefix="mlp-bench-audit-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["MLP_HOME"] = str(home / ".mlp")
    os.environ.setdefault("MLP_PROJECT", str(REPO))
    from mlplatform.config import load_settings
    from mlplatform.lineage.audit import verify
    from mlplatform.tables import table_uri

    hw = benchlib.hardware(("deltalake",))
    print(f"hardware: {benchlib.hardware_line(hw)}; load average at start {watch.max_load:.1f}", flush=True)
    settings = load_settings()
    plain_uri = table_uri(settings, "_bench", "plain_lineage")
    try:
        _appends(settings, plain_uri, 3, 0)  # warm-up: imports, table creation
        fresh = _appends(settings, plain_uri, args.appends, 3)
        print(f"{args.appends} appends each on small tables done", flush=True)
        _fill(settings, plain_uri, args.verify_rows)
        verify_s = [_timed(lambda: verify(settings)) for _ in range(3)]
        report = verify(settings)
        long = _appends(settings, plain_uri, args.appends, 10**7)
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    watch.stop()

    med = {
        "fresh_chained": statistics.median(fresh["chained"]),
        "fresh_plain": statistics.median(fresh["plain"]),
        "long_chained": statistics.median(long["chained"]),
        "long_plain": statistics.median(long["plain"]),
        "verify": statistics.median(verify_s),
    }
    lines = [
        ("append, small log", med["fresh_chained"], med["fresh_plain"], 1.2),
        (f"append, {args.verify_rows:,}-row log", med["long_chained"], med["long_plain"], 1.2),
    ]
    print(f"\nmedian of {args.appends} appends of one row each, sides alternating\n")
    header = f"{'operation':<28} {'chained ms':>11} {'plain ms':>9} {'ratio':>7} {'target':>7}  met"
    print(header)
    print("-" * len(header))
    for name, ours, plain, target in lines:
        ratio = watch.ratio(ours, plain)
        met = "-" if ratio is None else "yes" if ratio <= target else "NO"
        print(f"{name:<28} {ours * 1000:11.1f} {plain * 1000:9.1f} {watch.cell(ratio):>7} {target:6.1f}x  {met}")
    ok = report.ok and report.head_seq == args.verify_rows + 3 + args.appends
    print(
        f"verify of {report.rows:,} chained rows: {med['verify']:.2f} s (median of 3; target < 5 s: "
        f"{'yes' if med['verify'] < 5 else 'NO'}); chain intact: {ok}"
    )
    print(watch.summary())
    payload = {
        "appends": args.appends,
        "verify_rows": report.rows,
        "median_s": med,
        "ratio_small": watch.ratio(med["fresh_chained"], med["fresh_plain"]),
        "ratio_long": watch.ratio(med["long_chained"], med["long_plain"]),
        "chain_intact": ok,
    }
    benchlib.write_json(args.json, payload, watch, hw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
