"""Benchmark: drift and data quality of a scoring run, against the scoring job and against Evidently.

    .venv/bin/python scripts/bench/monitoring.py                    # 5,000,000 rows x 20 features
    .venv/bin/python scripts/bench/monitoring.py --rows 200000      # a quick run
    .venv/bin/python scripts/bench/monitoring.py --no-evidently     # ours only

Data (seeded numpy): 20 features, 14 numeric (normal, log-normal, Poisson counts, uniform;
2 with 2% nulls) and 6 categorical (2 to 60 categories, one boolean); a reference sample of
``--reference-rows`` (200,000) from one distribution, and the scoring run's ``--rows`` from
the same one except two injected drifts: ``n0`` shifted by one standard deviation and the
mix of ``c0`` changed. A small HistGradientBoosting pipeline (30 iterations, ordinal-encoded
categories) is fitted on the reference; the reference profile is built from the reference
with the model's outputs on it and stored as the platform stores it at registration.
The scoring run's feature vectors are written as the run date's partition of
``scoring_sets/<model>`` (deltalake), exactly where a feature-repository run keeps them.

Timed, in one Spark session (``local[*]``, the session already started):

- the scoring job (the stand-in for ``mlp score`` from the feature repository, without its
  planning and point-in-time join, so the job is *shorter* than a real one and the ratio is
  conservative): read the scoring set (delta-spark), ``mapInArrow`` applying the fitted
  pipeline, write the scores partition (Delta, replace where run_date);
- ours, the Spark engine: ``scoring.drift_run.measure_drift(engine="spark")``, which reads the
  profile, reads and joins both partitions on Spark, summarises every column in one
  aggregation pass, judges it and writes the drift rows;
- ours, in process: the same with ``engine="pandas"`` (deltalake -> pandas, merged, summarised);
- Evidently 0.7 (``Report([DataDriftPreset()])`` on the current features against the
  reference in pandas, column types given), in its own venv so it does not touch the
  platform's pins: ``.mlp/bench-venvs/evidently`` is made on first use with ``python -m venv``
  and ``pip install evidently==0.7.23 pandas==2.3.3 pyarrow`` (pandas 3 breaks evidently's
  imports); it reads Parquet files the benchmark writes, timed apart from the report.

Drifted columns: ours are the features whose drift status is ``alert`` (PSI >= 0.25), the
data-quality bands (null rate, out of range, unseen) left out because Evidently has no such
test; Evidently's are those its column drift test detects (for > 1,000 rows: normed
Wasserstein distance >= 0.1 numeric, Jensen-Shannon distance >= 0.1 categorical).

Targets (issue 18): monitoring adds <= 30% to the scoring job; faster than Evidently, same
drifted columns. Results: printed table and ``.mlp/bench/monitoring.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import benchlib

REPO = Path(__file__).resolve().parents[2]
MODEL = "monitor_bench"
KEY = "customer_id"
RUN_DATE = "2024-06-30"
EVIDENTLY = "evidently==0.7.23"
NUMERIC = [f"n{i}" for i in range(14)]
CATEGORICAL = [f"c{i}" for i in range(6)]
DRIFTED = ["n0", "c0"]

EVIDENTLY_JOB = """
import json, sys, time
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

cfg = json.loads(sys.argv[1])
start = time.perf_counter()
current = pd.read_parquet(cfg["current"])
reference = pd.read_parquet(cfg["reference"])
read = time.perf_counter() - start
definition = DataDefinition(numerical_columns=cfg["numeric"], categorical_columns=cfg["categorical"])
start = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(
    Dataset.from_pandas(current, data_definition=definition),
    Dataset.from_pandas(reference, data_definition=definition),
)
result = snapshot.dict()
report = time.perf_counter() - start
print(json.dumps({"read_s": read, "report_s": report, "metrics": result["metrics"]}, default=str))
"""


def _features(n: int, seed: int, drift: bool) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        kind = i % 4
        if kind == 0:
            values = rng.normal(10 * i, 1 + i, n)
        elif kind == 1:
            values = rng.lognormal(1 + i / 10, 0.5, n)
        elif kind == 2:
            values = rng.poisson(1 + i, n).astype("float64")
        else:
            values = rng.uniform(-i, i, n)
        if i in (5, 9):
            values[rng.random(n) < 0.02] = np.nan
        cols[name] = values
    if drift:
        cols["n0"] = cols["n0"] + 1.0  # n0 is normal(0, 1): one standard deviation
    sizes = [3, 5, 10, 25, 60]
    for name, k in zip(CATEGORICAL, sizes):
        weights = np.arange(k, 0, -1, dtype="float64")
        if drift and name == "c0":
            weights = weights[::-1]
        cols[name] = pd.Categorical.from_codes(
            rng.choice(k, p=weights / weights.sum(), size=n), [f"v{j}" for j in range(k)]
        )
    cols[CATEGORICAL[-1]] = rng.random(n) < 0.3
    frame = pd.DataFrame(cols)
    for name in CATEGORICAL[:-1]:
        frame[name] = frame[name].astype(str)
    return frame


def _fit(reference: Any, seed: int) -> Any:
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    rng = np.random.default_rng(seed)
    logit = (reference["n0"] / 1.0) - (reference["n1"] - reference["n1"].mean()) + (reference["c0"] == "v0") * 0.8
    label = (logit + rng.normal(size=len(reference)) > 0).astype("int64")
    encode = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), CATEGORICAL)],
        remainder="passthrough",
    )
    model = Pipeline([("encode", encode), ("hgb", HistGradientBoostingClassifier(max_iter=30, random_state=0))])
    return model.fit(reference, label)


def _prepare(settings: Any, rows: int, reference_rows: int, home: Path) -> dict[str, Any]:
    """The reference, its profile (stored), the model, and the run's scoring set (Delta) and Parquet copies."""
    import pandas as pd

    from mlplatform import tables
    from mlplatform.features.scoring_sets import AS_OF
    from mlplatform.monitoring import build_profile
    from mlplatform.monitoring.store import write_profile

    start = time.perf_counter()
    reference = _features(reference_rows, seed=1, drift=False)
    model = _fit(reference, seed=2)
    proba = model.predict_proba(reference)[:, 1]
    profile = build_profile(reference, predictions=proba > 0.5, probabilities=proba, model=MODEL, version=1)
    write_profile(settings, profile)
    current = _features(rows, seed=3, drift=True)
    reference.to_parquet(home / "reference.parquet")
    current.to_parquet(home / "current.parquet")
    vectors = current.assign(
        **{KEY: range(rows), AS_OF: pd.Timestamp(f"{RUN_DATE} 23:59:59", tz="UTC")},
        model_version=1,
        scoring_run_id="bench",
        run_date=pd.Timestamp(RUN_DATE).date(),
    )
    uri = tables.table_uri(settings, "scoring_sets", MODEL)
    version = tables.write_pandas(vectors, uri, partition_by=["run_date"], replace_where=f"run_date = '{RUN_DATE}'")
    print(
        f"prepared {rows:,} rows x {len(current.columns)} features in {time.perf_counter() - start:.0f} s", flush=True
    )
    return {"model": model, "scoring_set": uri, "scoring_set_version": version}


def _score(spark: Any, settings: Any, prepared: dict[str, Any]) -> tuple[int, float]:
    """The scoring job: read the scoring set, mapInArrow the model, write the scores partition."""
    import pyarrow as pa
    from pyspark.sql import functions as F

    from mlplatform import tables
    from mlplatform.features.scoring_sets import AS_OF

    model = prepared["model"]
    columns = [*NUMERIC, *CATEGORICAL]

    def score(batches: Any) -> Any:
        for batch in batches:
            frame = batch.to_pandas()
            p = model.predict_proba(frame[columns])[:, 1]
            yield pa.RecordBatch.from_pydict(
                {KEY: batch.column(KEY), AS_OF: batch.column(AS_OF), "prediction": p > 0.5, "probability": p}
            )

    start = time.perf_counter()
    vectors = tables.read(spark, prepared["scoring_set"], version=prepared["scoring_set_version"])
    vectors = vectors.where(F.col("run_date") == F.lit(RUN_DATE).cast("date")).select(KEY, AS_OF, *columns)
    schema = f"{KEY} long, {AS_OF} timestamp, prediction boolean, probability double"
    scores = vectors.mapInArrow(score, schema).withColumn("run_date", F.lit(RUN_DATE).cast("date"))
    uri = tables.table_uri(settings, "scores", MODEL)
    version = tables.write(scores, uri, partition_by=["run_date"], replace_where=f"run_date = '{RUN_DATE}'")
    return version, time.perf_counter() - start


def _drift(spark: Any, settings: Any, prepared: dict[str, Any], table_version: int, rows: int, engine: str) -> Any:
    from mlplatform import tables
    from mlplatform.features.scoring_sets import AS_OF
    from mlplatform.monitoring.store import read_drift
    from mlplatform.scoring.batch import ScoreResult
    from mlplatform.scoring.drift_run import measure_drift

    result = ScoreResult(
        model=MODEL,
        model_version=1,
        env_id=None,
        input_id=f"scoring_set:{MODEL}@{RUN_DATE}",
        run_date=RUN_DATE,
        run_id=f"bench-{engine}",
        table=tables.table_uri(settings, "scores", MODEL),
        table_version=table_version,
        rows=rows,
        seconds=0.0,
        columns=(KEY, AS_OF, "prediction", "probability"),
        scoring_set_version=prepared["scoring_set_version"],
    )
    start = time.perf_counter()
    measure_drift(settings, [KEY], result, engine=engine, spark=spark)
    seconds = time.perf_counter() - start
    return read_drift(settings, MODEL, run_date=RUN_DATE), seconds


def _evidently_python() -> Path:
    venv = REPO / ".mlp" / "bench-venvs" / "evidently"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"making {venv} ({EVIDENTLY}, its own venv: it does not touch the platform's pins)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    check = subprocess.run([str(python), "-c", "import evidently"], capture_output=True)
    if check.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", EVIDENTLY, "pandas==2.3.3", "pyarrow"], check=True)
    return python


def _evidently(home: Path) -> dict[str, Any]:
    cfg = {
        "current": str(home / "current.parquet"),
        "reference": str(home / "reference.parquet"),
        "numeric": NUMERIC,
        "categorical": CATEGORICAL,
    }
    start = time.perf_counter()
    done = subprocess.run(
        [str(_evidently_python()), "-c", EVIDENTLY_JOB, json.dumps(cfg)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"evidently failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["process_s"] = time.perf_counter() - start
    out["columns"] = _evidently_columns(out.pop("metrics"))
    return out


def _evidently_columns(metrics: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per column: Evidently's drift score, method, threshold and whether it detected drift."""
    out: dict[str, dict[str, Any]] = {}
    for metric in metrics:
        config = metric.get("config") or {}
        column = config.get("column")
        if config.get("type", "").endswith("ValueDrift") and column is not None:
            score, threshold = float(metric["value"]), float(config["threshold"])
            method = str(config.get("method"))
            p_value = "p_value" in method or "test" in method
            out[column] = {
                "score": score,
                "method": method,
                "threshold": threshold,
                "drifted": score < threshold if p_value else score >= threshold,
            }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows of the scoring run")
    parser.add_argument("--reference-rows", type=int, default=200_000)
    parser.add_argument("--home", type=Path, help="platform home for the run (default: a temporary one, removed)")
    parser.add_argument("--no-evidently", action="store_true", help="skip Evidently")
    benchlib.add_arguments(parser, __file__)
    args = parser.parse_args(argv)

    watch = benchlib.LoadWatch.from_args(args).start()
    home = args.home or Path(tempfile.mkdtemp(prefix="mlp-bench-monitoring-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["MLP_HOME"] = str(home / ".mlp")
    os.environ.setdefault("MLP_PROJECT", str(REPO))
    warnings.filterwarnings("ignore")
    from mlplatform.config import load_settings
    from mlplatform.launch.session import session

    hw = benchlib.hardware(("pyspark", "deltalake", "pyarrow"), {"spark": "local[*]"})
    print(f"hardware: {benchlib.hardware_line(hw)}; load average at start {watch.max_load:.1f}", flush=True)
    settings = load_settings()
    try:
        prepared = _prepare(settings, args.rows, args.reference_rows, home)
        spark = session(app_name="bench-monitoring", settings=settings)
        table_version, scoring_s = _score(spark, settings, prepared)
        print(f"scoring job: {scoring_s:.1f} s", flush=True)
        spark_drift, spark_s = _drift(spark, settings, prepared, table_version, args.rows, "spark")
        print(f"drift, spark engine: {spark_s:.1f} s", flush=True)
        pandas_drift, pandas_s = _drift(spark, settings, prepared, table_version, args.rows, "pandas")
        print(f"drift, in process: {pandas_s:.1f} s", flush=True)
        evidently = None if args.no_evidently else _evidently(home)
        spark.stop()
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    watch.stop()

    features = spark_drift[spark_drift["role"] == "feature"].set_index("feature")
    same = bool((features["psi"] - pandas_drift.set_index("feature").loc[features.index, "psi"]).abs().max() < 1e-12)
    ours = sorted(features.index[features["drift_status"] == "alert"])
    of_scoring = {"spark": watch.ratio(spark_s, scoring_s), "pandas": watch.ratio(pandas_s, scoring_s)}
    rows_out = [
        ("scoring job (read, mapInArrow HGB, write Delta)", scoring_s, ""),
        (
            "drift, spark engine (one pass, measure_drift)",
            spark_s,
            f"{watch.cell(of_scoring['spark'], '.0%', '')} of scoring",
        ),
        (
            "drift, in process (deltalake + pandas)",
            pandas_s,
            f"{watch.cell(of_scoring['pandas'], '.0%', '')} of scoring",
        ),
    ]
    evidently_drifted: list[str] = []
    if evidently is not None:
        evidently_drifted = sorted(c for c, v in evidently["columns"].items() if v["drifted"])
        rows_out.append(("Evidently DataDriftPreset, report only", evidently["report_s"], ""))
        rows_out.append(("Evidently, + reading Parquet into pandas", evidently["report_s"] + evidently["read_s"], ""))
    print(f"\n{args.rows:,} rows x {len(NUMERIC) + len(CATEGORICAL)} features, drift injected in {', '.join(DRIFTED)}")
    print(f"{'step':<52} {'seconds':>8}  note")
    for name, seconds, note in rows_out:
        print(f"{name:<52} {seconds:>8.1f}  {note}")
    print(f"drifted, ours (PSI alert): {ours}; both engines equal: {same}")
    if evidently is not None:
        print(f"drifted, Evidently: {evidently_drifted}")
        for name in sorted(set(ours) ^ set(evidently_drifted)):
            e = evidently["columns"].get(name, {})
            print(f"  differs on {name}: psi {features.loc[name, 'psi']:.4f}, js {features.loc[name, 'js']:.4f}; "
                  f"Evidently {e.get('method')} {e.get('score')} (threshold {e.get('threshold')})")  # fmt: skip
    print(watch.summary())
    payload = {
        "rows": args.rows,
        "reference_rows": args.reference_rows,
        "features": len(NUMERIC) + len(CATEGORICAL),
        "scoring_s": scoring_s,
        "drift_spark_s": spark_s,
        "drift_pandas_s": pandas_s,
        "drift_of_scoring": of_scoring,
        "engines_equal": same,
        "drifted_ours": ours,
        "psi": features["psi"].to_dict(),
        "evidently": evidently,
        "drifted_evidently": evidently_drifted,
    }
    benchlib.write_json(args.json, payload, watch, hw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
