"""Benchmark: point-in-time join of ~1M labels against 3 feature sets of ~5M rows on local[2].

    .venv/bin/python scripts/bench/pit_join.py [--quick] [--home DIR] [--repeat N]

Data: the seeded churn generator at benchmark size (100k customers, twice-monthly
labels, busier activity and support so each feature table holds ~5M rows),
written and ingested once into --home (reused on later runs). Every method starts
from the same Delta tables and ends with the joined rows materialized (pandas in
memory; Spark through the ``noop`` sink), with the same semantics (backward as-of
by customer, per-set TTL; the known-time cutoff is timed separately for ours):

- ours, auto engine choice (what ``mlp trainset build`` does);
- ours, in-process engine (deltalake -> Arrow -> packed-key searchsorted);
- ours, Spark engine (one window per feature set over labels ∪ features);
- pandas ``merge_asof(by=key, tolerance=ttl)`` × 3 on one core, reading with deltalake;
- Spark naive: join on key + time filter + ``row_number`` per label, × 3.

All must produce the same rows (checked, not timed). Every method runs --repeat rounds,
the methods alternating within a round (so none finds a JVM the others warmed); the
first round is the cold one, the best round is reported.

Scaling (skip with ``--no-scaling``): the same labels and feature tables cut to a
quarter and a half of the customers (``pmod(xxhash64(customer_id), 4)``, written once
as Delta copies under --home), and ours on both engines timed at the three sizes:
seconds per million input rows (labels + features) at each size, and the growth of the
time against the growth of the rows from the quarter to the whole (1.0 = linear).

Targets (issue 20): Spark naive / ours, Spark engine >= 2x wall; ours linear in size
over the three sizes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import benchlib

BENCH = dict(customers=100_000, activity_rate=1.3, contacts_per_year=70.0, label_frequency="SMS")
QUICK = dict(customers=3_000, activity_rate=1.3, contacts_per_year=70.0, label_frequency="SMS")
SETS = ["account_activity", "activity_rollups", "support_contacts"]
FEATURES = ["account_activity:*", "activity_rollups:*", "support_contacts:*"]


def prepare(home: Path, sizes: dict, spark) -> None:  # type: ignore[no-untyped-def]
    """Generate and ingest once; a finished home is reused."""
    from mlplatform.config import load_settings
    from mlplatform.features import apply, ingest, load_feature_sets
    from mlplatform.features.datagen import write_raw_tables

    marker = home / "bench-ready"
    if marker.exists():
        return
    settings = load_settings()
    t = time.perf_counter()
    written = write_raw_tables(settings, size="tiny", **sizes)
    print(
        "generated "
        + ", ".join(f"{k} {rows:,}" for k, (_, _, rows) in written.items())
        + f" in {time.perf_counter() - t:.0f}s",
        flush=True,
    )
    apply(settings, load_feature_sets())
    for name in SETS:
        t = time.perf_counter()
        result = ingest(spark, settings, name, mode="overwrite")
        print(f"ingested {result.id}: {result.rows:,} rows in {time.perf_counter() - t:.0f}s", flush=True)
    marker.write_text("ok\n")


def naive_spark(spark, p):  # type: ignore[no-untyped-def]
    """Join on key, keep feature rows at or before the label time within the TTL, rank, keep the first."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from mlplatform import tables

    ts = p.spec.labels.event_timestamp
    labels = tables.read(spark, p.label_table, version=p.label_version, columns=p.label_columns)
    out = labels.withColumn("__id", F.monotonically_increasing_id())
    for s in p.sets:
        j = s.join
        feats = tables.read(spark, s.table, version=s.version, columns=j.needed())
        f = feats.select(*j.keys, F.col(j.event_timestamp).alias("__e"), *[F.col(c).alias(o) for c, o in j.columns])
        cond = [out[k] == f[k] for k in j.keys] + [f["__e"] <= out[ts]]
        if j.ttl is not None:
            cond.append(F.unix_micros(out[ts]) - F.unix_micros(f["__e"]) <= F.lit(j.ttl_micros))
        cond_all = cond[0]
        for c in cond[1:]:
            cond_all = cond_all & c
        pairs = out.select("__id", *j.keys, ts).alias("l").join(f.alias("f"), on=cond_all)
        rank = F.row_number().over(Window.partitionBy("__id").orderBy(F.col("__e").desc()))
        best = pairs.withColumn("__r", rank).where("__r = 1").select("__id", *[o for _, o in j.columns])
        out = out.join(best, on="__id", how="left")
    return out.drop("__id")


def pandas_merge_asof(p):  # type: ignore[no-untyped-def]
    """What a user would write: read each table with deltalake, merge_asof one after the other."""
    import pandas as pd

    from mlplatform import tables

    ts = p.spec.labels.event_timestamp
    out = tables.to_pandas(p.label_table, columns=p.label_columns, version=p.label_version).sort_values(ts)
    for s in p.sets:
        j = s.join
        f = tables.to_pandas(
            s.table, columns=list(j.keys) + [j.event_timestamp] + [c for c, _ in j.columns], version=s.version
        )
        f = f.rename(columns={j.event_timestamp: ts, **{c: o for c, o in j.columns}}).sort_values(ts)
        out = pd.merge_asof(
            out, f, on=ts, by=list(j.keys), direction="backward", tolerance=pd.Timedelta(j.ttl) if j.ttl else None
        )
    return out


SCALES = {"quarter": 1, "half": 2}  # customers kept: pmod(xxhash64(key), 4) < n


def scaled_plan(spark, p, home: Path, name: str, quarters: int):  # type: ignore[no-untyped-def]
    """``p`` over Delta copies of its tables holding ``quarters``/4 of the customers (written once)."""
    from pyspark.sql import functions as F

    from mlplatform import tables

    keys = list(p.sets[0].join.keys)
    folder = home / "scaled" / name
    keep = F.pmod(F.xxhash64(*keys), F.lit(4)) < quarters

    def copy(uri: str, version: int, target: Path) -> str:
        if not (target / "_delta_log").is_dir():
            tables.write(tables.read(spark, uri, version=version).where(keep), str(target), mode="overwrite")
        return str(target)

    sets = [dataclasses.replace(s, table=copy(s.table, s.version, folder / s.join.name), version=0) for s in p.sets]
    labels = copy(p.label_table, p.label_version, folder / "labels")
    return dataclasses.replace(p, label_table=labels, label_version=0, sets=sets)


def input_rows(p) -> int:  # type: ignore[no-untyped-def]
    from mlplatform import tables

    return tables.describe(p.label_table).num_rows + sum(tables.describe(s.table).num_rows for s in p.sets)


def scaling(spark, p, home: Path, repeat: int, jvm_pid: int, materialize) -> dict:  # type: ignore[no-untyped-def]
    """Best wall seconds of both engines at a quarter, a half and all of the customers."""
    from mlplatform.features.trainsets import _run_pandas, _run_spark

    plans = {name: scaled_plan(spark, p, home, name, quarters) for name, quarters in SCALES.items()}
    plans["whole"] = p
    methods = {}
    for name, q in plans.items():
        methods[(name, "Spark")] = materialize(lambda q=q: _run_spark(spark, q))
        methods[(name, "in-process")] = lambda q=q: _run_pandas(q)
    runs = rounds(methods, repeat, jvm_pid)
    out: dict = {name: {"input_rows": input_rows(q), "best_wall_s": {}} for name, q in plans.items()}
    for (name, engine), timings in runs.items():
        out[name]["best_wall_s"][engine] = min(w for w, _ in timings)
    return out


def growth(scaled: dict, engine: str, watch: benchlib.LoadWatch) -> float | None:
    """(time at the whole / time at a quarter) / (rows at the whole / rows at a quarter): 1.0 is linear."""
    small, whole = scaled["quarter"], scaled["whole"]
    return watch.ratio(
        whole["best_wall_s"][engine] * small["input_rows"], small["best_wall_s"][engine] * whole["input_rows"]
    )


def cpu_seconds(jvm_pid: int) -> float:
    """CPU time used so far by this process and the Spark JVM (immune to other jobs' load)."""
    fields = Path(f"/proc/{jvm_pid}/stat").read_text().rsplit(")", 1)[1].split()
    return time.process_time() + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rounds(methods: dict, repeat: int, jvm_pid: int) -> dict:  # type: ignore[type-arg]
    """Wall and CPU seconds of each run of each method, ``repeat`` rounds with the methods alternating.

    Alternating keeps a method that runs later from finding a JVM the earlier ones warmed.
    """
    runs: dict = {name: [] for name in methods}  # type: ignore[type-arg]
    for number in range(repeat):
        for name, fn in methods.items():
            t, c = time.perf_counter(), cpu_seconds(jvm_pid)
            fn()
            runs[name].append((time.perf_counter() - t, cpu_seconds(jvm_pid) - c))
            print(f"  round {number + 1}, {name}: {runs[name][-1][0]:.1f}s wall", flush=True)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3k customers instead of 100k")
    parser.add_argument("--home", type=Path, help="where the data lives (default /tmp/mlp-bench-pit[-quick])")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every method, alternating (first = cold)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the three-size scaling runs")
    benchlib.add_arguments(parser, __file__)
    args = parser.parse_args()
    watch = benchlib.LoadWatch.from_args(args).start()
    sizes = QUICK if args.quick else BENCH
    home = args.home or Path(f"/tmp/mlp-bench-pit{'-quick' if args.quick else ''}")
    os.environ["MLP_HOME"] = str(home)
    os.environ.setdefault("MLP_PROJECT", str(Path(__file__).resolve().parents[2]))

    from mlplatform.config import load_settings
    from mlplatform.features.definitions import TrainingSetSpec, load_trainset_spec
    from mlplatform.features.trainsets import _run_pandas, _run_spark, canonical, choose_engine, plan
    from mlplatform.launch.session import session

    hw = benchlib.hardware(("pyspark",), {"spark": "local[2]"})
    print(f"{benchlib.hardware_line(hw)}; load average at start {watch.max_load:.1f}", flush=True)
    spark = session(
        app_name="bench-pit-join",
        conf={
            "spark.master": "local[2]",
            "spark.sql.shuffle.partitions": "8",
            "spark.driver.memory": "8g",
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.databricks.delta.snapshotPartitions": "2",
        },
    )  # the Delta log is small: few tasks to replay it
    prepare(home, sizes, spark)
    settings = load_settings()
    base = load_trainset_spec("churn").model_dump()
    spec = TrainingSetSpec(**{**base, "features": FEATURES, "name": "bench"})
    full = plan(settings, spec)
    # merge_asof and the naive join know nothing of a created-time cutoff: compare all on the plain semantics.
    p = dataclasses.replace(
        full, sets=[dataclasses.replace(s, join=dataclasses.replace(s.join, created_timestamp=None)) for s in full.sets]
    )
    from mlplatform import tables

    rows = {
        "labels": tables.describe(p.label_table).num_rows,
        **{s.join.name: tables.describe(s.table).num_rows for s in p.sets},
    }
    print("rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()), flush=True)

    def spark_materialize(frame_fn):  # type: ignore[no-untyped-def]
        return lambda: frame_fn().write.format("noop").mode("overwrite").save()

    tables.read(spark, p.label_table).limit(1).collect()  # start the JVM side before timing anything
    engine = choose_engine(p)
    methods = {
        f"ours: auto (chose {engine})": (lambda: _run_pandas(p))
        if engine == "pandas"
        else spark_materialize(lambda: _run_spark(spark, p)),
        "ours: in-process engine": lambda: _run_pandas(p),
        "ours: Spark engine": spark_materialize(lambda: _run_spark(spark, p)),
        "pandas merge_asof x3, one core": lambda: pandas_merge_asof(p),
        "Spark naive join + filter + row_number": spark_materialize(lambda: naive_spark(spark, p)),
        "ours: in-process, with known-time cutoff": lambda: _run_pandas(full),
        "ours: Spark, with known-time cutoff": spark_materialize(lambda: _run_spark(spark, full)),
    }
    jvm_pid = spark.sparkContext._gateway.proc.pid  # the JVM this process started
    results = {}
    results.update(rounds(methods, args.repeat, jvm_pid))

    scaled = {} if args.no_scaling else scaling(spark, p, home, args.repeat, jvm_pid, spark_materialize)

    # Same rows (not timed).
    columns = p.output_columns
    reference = canonical(_run_pandas(p).to_pandas(), columns)
    checks = {
        "pandas merge_asof": pandas_merge_asof(p),
        "ours: Spark engine": _run_spark(spark, p).toArrow().to_pandas(),
        "Spark naive": naive_spark(spark, p).select(*columns).toArrow().to_pandas(),
    }
    same = {k: canonical(v, columns).equals(reference) for k, v in checks.items()}
    matched = int(reference[p.sets[0].join.columns[0][1]].notna().sum())
    spark.stop()
    watch.stop()
    best_wall = {name: min(w for w, _ in runs) for name, runs in results.items()}
    naive_vs_spark = watch.ratio(best_wall["Spark naive join + filter + row_number"], best_wall["ours: Spark engine"])

    print()
    print(
        f"Point-in-time join, {rows['labels']:,} labels x 3 feature sets "
        f"({', '.join(f'{rows[s]:,}' for s in SETS)} rows), TTL 30d/30d/90d"
    )
    print(benchlib.hardware_line(hw))
    print()
    print(f"| {'method':<42} | {'wall, cold':>10} | {'wall, best':>10} | {'CPU, best':>9} |")
    print(f"|{'-' * 44}|{'-' * 12}|{'-' * 12}|{'-' * 11}|")
    for name, runs in results.items():
        print(
            f"| {name:<42} | {runs[0][0]:>9.1f}s | {min(w for w, _ in runs):>9.1f}s | "
            f"{min(c for _, c in runs):>8.1f}s |"
        )
    print(
        "(CPU = seconds of CPU used by the driver process and the Spark JVM: what the work costs,"
        " whatever else runs on the machine)"
    )
    print()
    print(
        "same rows as ours (in-process): "
        + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in same.items())
        + f"; {matched:,} labels matched in {SETS[0]}"
    )
    print(f"Spark naive / ours, Spark engine = {watch.cell(naive_vs_spark)} wall, best runs (target >= 2x)")
    growths = {engine: growth(scaled, engine, watch) for engine in ("Spark", "in-process")} if scaled else {}
    if scaled:
        print()
        print(
            f"| {'size':<8} | {'input rows':>11} | {'Spark s':>8} | {'s / M rows':>10} | {'in-process s':>12} | "
            f"{'s / M rows':>10} |"
        )
        for name, fig in scaled.items():
            m = fig["input_rows"] / 1e6
            spark_s, local_s = fig["best_wall_s"]["Spark"], fig["best_wall_s"]["in-process"]
            print(
                f"| {name:<8} | {fig['input_rows']:>11,} | {spark_s:>8.1f} | {spark_s / m:>10.2f} | "
                f"{local_s:>12.1f} | {local_s / m:>10.2f} |"
            )
        print(
            "time growth / row growth, quarter -> whole (1.0 = linear, below = fixed costs amortized): "
            + ", ".join(f"{e} {watch.cell(g, suffix='')}" for e, g in growths.items())
        )
    print(watch.summary())
    benchlib.write_json(
        args.json,
        {
            "rows": rows,
            "repeat": args.repeat,
            "runs": {name: [{"wall_s": w, "cpu_s": c} for w, c in runs] for name, runs in results.items()},
            "best_wall_s": best_wall,
            "naive_vs_spark_engine": naive_vs_spark,
            "scaling": scaled,
            "time_growth_over_row_growth": growths,
            "same_rows": same,
            "matched": matched,
        },
        watch,
        hw,
    )
    print(f"figures written to {args.json}")
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
