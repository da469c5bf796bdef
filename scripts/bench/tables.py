"""Benchmark: Delta (mlplatform.tables) against plain Parquet, in one Spark session and run.

    .venv/bin/python scripts/bench/tables.py [--quick] [--rows N] [--repeat R]

The same cached DataFrame (N rows x 10 columns: ints, doubles, strings, a date) is
written as Delta through ``tables.write`` and as plain Parquet with
``df.write.parquet``, and read back in full by Spark (``noop`` sink: every column is
decoded). Then the Delta table is read into pandas without Spark
(``tables.to_pandas``, deltalake) against ``pandas.read_parquet`` of the same files.
Each figure is the median of --repeat runs after a warm-up, the sides alternating.
A third write limits Delta's per-file statistics to two columns (``stats_columns``),
which is where Delta's extra write time goes.

The first read of a version is split into its phases: ``tables.read`` (the DataFrame:
the version's log read by deltalake) and the scan, each with the Spark jobs and tasks it
ran (``statusTracker``), beside delta-spark's own ``format("delta").load`` of the same
version (its scan starts with the state reconstruction jobs ``tables.read`` skips for a
plain table). A cold read clears this JVM's DeltaLog cache first, as a reader in another
session meets a version another writer committed.

Targets (issue 11): Delta write >= 0.8x and read >= 0.9x of Parquet's speed;
``to_pandas`` >= 0.8x of ``read_parquet``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import benchlib

ROWS, QUICK_ROWS = 5_000_000, 200_000


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


class Phases:
    """Wall time, Spark jobs and tasks of each named phase (a job group per call)."""

    def __init__(self, spark: object) -> None:
        self.context = spark.sparkContext  # type: ignore[attr-defined]
        self.seen: dict[str, list[tuple[float, int, int]]] = {}

    def run(self, name: str, call: Callable[[], object]) -> object:
        group = f"{name}-{len(self.seen.get(name, []))}"
        self.context.setJobGroup(group, name)
        start = time.perf_counter()
        out = call()
        elapsed = time.perf_counter() - start
        tracker = self.context.statusTracker()
        jobs = tracker.getJobIdsForGroup(group)
        stages = [tracker.getStageInfo(s) for j in jobs for s in tracker.getJobInfo(j).stageIds]
        self.seen.setdefault(name, []).append((elapsed, len(jobs), sum(s.numTasks for s in stages if s)))
        return out

    def median(self) -> dict[str, dict[str, float]]:
        return {
            name: {
                "s": statistics.median(r[0] for r in runs),
                "jobs": statistics.median(r[1] for r in runs),
                "tasks": statistics.median(r[2] for r in runs),
            }
            for name, runs in self.seen.items()
        }


def pandas_side(path: str, first: str) -> dict[str, float]:
    """Seconds of ``tables.to_pandas`` and ``pandas.read_parquet`` of ``path`` in this process, ``first`` first."""
    import pandas as pd

    from mlplatform import tables

    calls: dict[str, Callable[[], object]] = {
        "to_pandas": lambda: tables.to_pandas(path),
        "read_parquet": lambda: pd.read_parquet(path),  # the Delta table's own files
    }
    for call in calls.values():
        call()
    order = sorted(calls, key=lambda name: name != first)
    return {name: timed(calls[name]) for name in order}


def pandas_process(path: Path, first: str) -> dict[str, float]:
    """:func:`pandas_side` in a fresh Python process (no JVM, no Spark), as a notebook reads a table."""
    done = subprocess.run(
        [sys.executable, __file__, "--pandas-side", str(path), "--first", first],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the pandas side failed on {path}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pandas-side", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--first", default="to_pandas", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows instead of {ROWS:,}")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="scratch folder (default: a temporary one, removed after)")
    benchlib.add_arguments(parser, __file__)
    args = parser.parse_args(argv)
    if args.pandas_side:
        print(json.dumps(pandas_side(args.pandas_side, args.first)))
        return 0
    watch = benchlib.LoadWatch.from_args(args).start()
    rows = args.rows or (QUICK_ROWS if args.quick else ROWS)
    scratch = Path(args.dir or tempfile.mkdtemp(prefix="mlp-bench-tables-"))
    os.environ.setdefault("MLP_HOME", str(scratch / ".mlp"))

    import pandas as pd
    from pyspark.sql import functions as F

    from mlplatform import tables
    from mlplatform.launch.session import session

    hw = benchlib.hardware(("pyspark", "deltalake", "pyarrow"), {"spark": "local[*]"})
    print(f"{benchlib.hardware_line(hw)}; load average at start {watch.max_load:.1f}", flush=True)
    spark = session(app_name="bench-tables", conf={"spark.driver.memory": "6g", "spark.sql.shuffle.partitions": "4"})
    df = (
        spark.range(rows, numPartitions=4)
        .select(
            F.col("id"),
            (F.col("id") % 1000).alias("k_int"),
            (F.col("id") * 7 % 100003).cast("int").alias("i2"),
            (F.rand(1) * 100).alias("d1"),
            (F.rand(2)).alias("d2"),
            (F.randn(3)).alias("d3"),
            F.concat(F.lit("customer-"), (F.col("id") % 50000).cast("string")).alias("s1"),
            F.element_at(
                F.array(*[F.lit(c) for c in ("red", "green", "blue", "black")]), (F.col("id") % 4 + 1).cast("int")
            ).alias("s2"),
            F.date_add(F.lit("2024-01-01").cast("date"), (F.col("id") % 365).cast("int")).alias("day"),
            (F.col("id") % 3 == 0).alias("flag"),
        )
        .cache()
    )
    print(f"{df.count():,} rows x {len(df.columns)} columns cached", flush=True)

    # Warm-up: the first Delta write/read in a JVM loads and JIT-compiles Delta's code
    # (seconds, once per job); the timed runs compare steady-state speed.
    small = df.limit(10_000)

    def warm_delta() -> None:
        tables.write(small, str(scratch / "warm-delta"))
        tables.read(spark, str(scratch / "warm-delta")).write.format("noop").mode("overwrite").save()

    def warm_parquet() -> None:
        small.write.parquet(str(scratch / "warm-parquet"))
        spark.read.parquet(str(scratch / "warm-parquet")).write.format("noop").mode("overwrite").save()

    warm = {"delta": timed(warm_delta), "parquet": timed(warm_parquet)}
    print(
        f"warm-up on 10,000 rows (first use in this JVM): Delta {warm['delta']:.2f}s, Parquet {warm['parquet']:.2f}s",
        flush=True,
    )

    names = (
        "delta_write",
        "delta_write_stats",
        "parquet_write",
        "delta_read",
        "parquet_read",
        "delta_read_again",
        "to_pandas",
        "read_parquet",
    )
    results: dict[str, list[float]] = {k: [] for k in names}
    phases = Phases(spark)
    delta_log = spark._jvm.org.apache.spark.sql.delta.DeltaLog  # type: ignore[attr-defined]

    def cold_read(path: Path) -> None:
        delta_log.clearCache()
        frame = phases.run("cold: tables.read (deltalake log)", lambda: tables.read(spark, str(path)))
        phases.run("cold: scan", lambda: frame.write.format("noop").mode("overwrite").save())  # type: ignore[attr-defined]

    def delta_spark_phases(path: Path) -> None:
        delta_log.clearCache()
        frame = phases.run("delta-spark: format(delta).load", lambda: spark.read.format("delta").load(f"file://{path}"))
        phases.run("delta-spark: scan (state + data)", lambda: frame.write.format("noop").mode("overwrite").save())  # type: ignore[attr-defined]

    def parquet_phases(path: Path) -> None:
        frame = phases.run("parquet: spark.read (listing)", lambda: spark.read.parquet(str(path)))
        phases.run("parquet: scan", lambda: frame.write.format("noop").mode("overwrite").save())  # type: ignore[attr-defined]

    try:
        for run in range(args.repeat):
            delta_path, parquet_path, narrow_path = (
                scratch / f"delta-{run}",
                scratch / f"parquet-{run}",
                scratch / f"narrow-{run}",
            )
            writes = [
                ("delta_write", lambda: tables.write(df, str(delta_path))),
                ("delta_write_stats", lambda: tables.write(df, str(narrow_path), stats_columns=["id", "day"])),
                ("parquet_write", lambda: df.write.parquet(str(parquet_path))),
            ]
            reads = [
                (
                    "delta_read",
                    lambda: tables.read(spark, str(delta_path)).write.format("noop").mode("overwrite").save(),
                ),
                (
                    "parquet_read",
                    lambda: spark.read.parquet(str(parquet_path)).write.format("noop").mode("overwrite").save(),
                ),
            ]
            for pair in (writes, reads):
                for name, call in pair if run % 2 == 0 else reversed(pair):
                    results[name].append(timed(call))
                if pair is reads:  # the first read of a new version also builds Delta's snapshot of it
                    results["delta_read_again"].append(timed(reads[0][1]))
                    cold_read(delta_path)
                    delta_spark_phases(delta_path)
                    parquet_phases(parquet_path)
            for name, seconds in pandas_process(delta_path, "to_pandas" if run % 2 == 0 else "read_parquet").items():
                results[name].append(seconds)
            print(
                f"run {run + 1}/{args.repeat}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in results.items()),
                flush=True,
            )
            check = tables.to_pandas(str(delta_path), columns=["id"])
            assert len(check) == rows and len(pd.read_parquet(str(delta_path), columns=["id"])) == rows
            for path in (delta_path, parquet_path, narrow_path):
                shutil.rmtree(path)
    finally:
        spark.stop()
        if not args.dir:
            shutil.rmtree(scratch, ignore_errors=True)
    watch.stop()

    median = {k: statistics.median(v) for k, v in results.items()}
    lines = [
        (
            "Spark write",
            "tables.write (Delta)",
            "df.write.parquet",
            median["delta_write"],
            median["parquet_write"],
            0.8,
        ),
        (
            "Spark write, stats on 2 cols",
            "stats_columns=[id,day]",
            "df.write.parquet",
            median["delta_write_stats"],
            median["parquet_write"],
            0.8,
        ),
        (
            "Spark read (all columns)",
            "tables.read (Delta)",
            "spark.read.parquet",
            median["delta_read"],
            median["parquet_read"],
            0.9,
        ),
        (
            "Spark read, snapshot cached",
            "tables.read again",
            "spark.read.parquet",
            median["delta_read_again"],
            median["parquet_read"],
            0.9,
        ),
        (
            "to pandas, no Spark",
            "tables.to_pandas",
            "pandas.read_parquet",
            median["to_pandas"],
            median["read_parquet"],
            0.8,
        ),
    ]
    print(f"\n{rows:,} rows x 10 columns, median of {args.repeat} runs\n")
    header = (
        f"{'operation':<29} {'ours':<22} {'s':>7}   {'alternative':<20} {'s':>7}   "
        f"{'speed vs alt':>12}  {'target':>7}  met"
    )
    print(header)
    print("-" * len(header))
    speeds = []
    for operation, ours, alternative, t_ours, t_alt, target in lines:
        ratio = watch.ratio(t_alt, t_ours)
        met = "-" if ratio is None else ("yes" if ratio >= target else "NO")
        print(
            f"{operation:<29} {ours:<22} {t_ours:7.2f}   {alternative:<20} {t_alt:7.2f}   "
            f"{watch.cell(ratio):>12}  {target:6.1f}x  {met}"
        )
        speeds.append(
            {"operation": operation, "ours_s": t_ours, "alternative_s": t_alt, "speed": ratio, "target": target}
        )
    phase_median = phases.median()
    print(f"\nfirst read of a version in phases (median of {args.repeat}; jobs and tasks Spark ran)\n")
    print(f"{'phase':<32} {'s':>7} {'jobs':>5} {'tasks':>6}")
    for name, figures in phase_median.items():
        print(f"{name:<32} {figures['s']:7.2f} {figures['jobs']:5.0f} {figures['tasks']:6.0f}")
    cold, delta_spark, plain = (
        sum(f["s"] for n, f in phase_median.items() if n.startswith(prefix))
        for prefix in ("cold", "delta-spark", "parquet")
    )
    print(
        f"cold first read {cold:.2f}s vs Parquet {plain:.2f}s: "
        f"speed {watch.cell(watch.ratio(plain, cold))} (target 0.9x); "
        f"delta-spark's own scan {delta_spark:.2f}s: {watch.cell(watch.ratio(plain, delta_spark))} of Parquet's speed"
    )
    print(watch.summary())
    benchlib.write_json(
        args.json,
        {
            "rows": rows,
            "repeat": args.repeat,
            "warm_up_s": warm,
            "median_s": median,
            "runs_s": results,
            "speeds": speeds,
            "first_read_phases": phase_median,
        },
        watch,
        hw,
    )
    print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
