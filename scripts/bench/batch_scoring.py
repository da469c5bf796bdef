"""Benchmark: batch scoring, ours (mapInArrow) against mlflow's spark_udf and one process.

    .venv/bin/python scripts/bench/batch_scoring.py            # 5,000,000 rows
    .venv/bin/python scripts/bench/batch_scoring.py --quick    # 500,000 rows
    .venv/bin/python scripts/bench/batch_scoring.py --rows 2000000 --jobs 2 --skip-uv

Same model (HistGradientBoostingClassifier, 100 iterations, 10 float features,
registered in the platform format), same Delta input, same machine, one run:

1. throughput, each method in a fresh SparkSession (``local[*]``): the first pass
   (cold: Python workers start, the model loads; for ours the check and probe are
   included) and the best of the following passes (warm). A pass reads the Delta
   table and scores every row into Spark's ``noop`` sink;
   - ours: ``batch.plan(...)`` — the plan ``mlp score`` runs;
   - ``mlflow.pyfunc.spark_udf(spark, "models:/...", env_manager="local")`` with
     the session's default Arrow batch size (what a user gets);
   - the model's own ``predict_proba`` on the whole numpy array in this process
     (2 OpenMP threads): the machine's limit.
2. the whole nightly job as a scheduler runs it, each in a fresh process: start
   Spark, read, check, score, write the scores table (replace the run date's
   partition) — ``jobs/score.py`` against the same job written with spark_udf,
   ``env_manager="local"`` (the driver's packages) and ``env_manager="uv"`` (the
   alternative that also runs the model's own environment: MLflow makes a venv of the
   model's Python and requirements in a temporary folder of every job and scores through
   a model server in it), and the same job with no model (the floor). The uv side runs
   once first with an empty uv cache (``UV_CACHE_DIR`` under the benchmark's home),
   reported apart as cold; the timed runs find the wheels in that cache. It needs
   ``pip install -e .[bench]`` (uv).

   Why not ``env_manager="virtualenv"``: MLflow's virtualenv manager runs ``pyenv install``
   of the model's Python into that per-job temporary folder, a CPython download and
   compile on every job; python.org is not reachable here, so it fails. uv finds the
   installed CPython and installs faster than pip, so the uv job is a lower bound for
   the virtualenv one.

Targets (issue 20): warm throughput >= 0.85x one process and >= 1.1x warm spark_udf;
the nightly job >= 2x the spark_udf job that recreates the model's environment (uv
here, see above) and >= 1.1x the one with ``env_manager="local"``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import benchlib

REPO = Path(__file__).resolve().parents[2]
FEATURES = [f"f{i}" for i in range(10)]
MODEL = "bench_hgb"
RUN_DATE = "2024-01-01"

UDF_JOB = """
import sys
from pyspark.sql import functions as F
import mlflow
from mlplatform import tables
from mlplatform.config import load_settings
from mlplatform.launch.session import session
from mlplatform.tracking.store import configure

settings = load_settings()
configure(settings)
spark = session(app_name="udf-job", settings=settings)
frame = tables.read(spark, sys.argv[1])
udf = mlflow.pyfunc.spark_udf(spark, "models:/{model}/1", result_type="long", env_manager="{env_manager}")
out = frame.select("id", udf(*[F.col(c) for c in {features!r}]).alias("prediction"),
                   F.lit("{model}").alias("model_name"), F.lit(1).alias("model_version"),
                   F.lit("{run_date}").cast("date").alias("run_date"))
tables.write(out, tables.table_uri(settings, "scores", "{model}_udf_{env_manager}"),
             replace_where="run_date = '{run_date}'", partition_by=["run_date"])
spark.stop()
"""

FLOOR_JOB = """
import sys
from pyspark.sql import functions as F
from mlplatform import tables
from mlplatform.config import load_settings
from mlplatform.launch.session import session

settings = load_settings()
spark = session(app_name="floor-job", settings=settings)
frame = tables.read(spark, sys.argv[1])
out = frame.select("id", F.col("f0").alias("prediction"), F.lit("{run_date}").cast("date").alias("run_date"))
tables.write(out, tables.table_uri(settings, "scores", "floor"), replace_where="run_date = '{run_date}'",
             partition_by=["run_date"])
spark.stop()
"""


def _fit(rows: int) -> Any:
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, len(FEATURES)))
    y = (X[:, 0] + X[:, 1] * X[:, 2] - X[:, 3] + rng.normal(size=rows) > 0).astype("int64")
    return HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0).fit(
        pd.DataFrame(X, columns=FEATURES), y
    )


def _register(settings: Any, model: Any) -> None:
    """Register ``model`` in the platform format.

    That is an mlflow.sklearn directory (cloudpickle) under run artifact model/.
    """
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.sklearn import save_model

    from mlplatform.tracking.model_registry import MODEL_ARTIFACT
    from mlplatform.tracking.store import configure, experiment_id

    configure(settings)
    client = MlflowClient()
    run = client.create_run(experiment_id("bench", settings))
    example = pd.DataFrame(np.zeros((3, len(FEATURES))), columns=FEATURES)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_model(model, f"{tmp}/model", serialization_format="cloudpickle", input_example=example)
        client.log_artifacts(run.info.run_id, f"{tmp}/model", MODEL_ARTIFACT)
    client.create_registered_model(MODEL)
    client.create_model_version(MODEL, f"{run.info.artifact_uri}/{MODEL_ARTIFACT}", run.info.run_id)


def _write_input(settings: Any, rows: int) -> str:
    from pyspark.sql import functions as F

    from mlplatform import tables
    from mlplatform.launch.session import session

    uri = tables.table_uri(settings, "features", "bench")
    spark = session(app_name="bench-data", settings=settings)
    frame = spark.range(0, rows, numPartitions=8).select(
        "id", *[F.randn(seed=i).alias(f) for i, f in enumerate(FEATURES)]
    )
    tables.write(frame, uri, mode="overwrite")
    spark.stop()
    return uri


def _one_process(model: Any, rows: int, passes: int) -> float:
    import numpy as np

    X = np.random.default_rng(1).normal(size=(rows, len(FEATURES)))
    best = 0.0
    for _ in range(passes):
        started = time.perf_counter()
        model.predict_proba(X)
        best = max(best, rows / (time.perf_counter() - started))
    return best


def _passes(settings: Any, rows: int, passes: int, make: Callable[[Any], Callable[[], None]]) -> tuple[float, float]:
    """(cold rows/s, best warm rows/s) in a fresh session; ``make(spark)`` does the setup and returns one pass."""
    from mlplatform.launch.session import session

    spark = session(app_name="bench-passes", settings=settings)
    spark.read.format("delta").load(_input_uri(settings)).selectExpr(
        "sum(f0)"
    ).collect()  # JVM and page cache warm for both
    try:
        started = time.perf_counter()
        one = make(spark)
        one()
        cold = rows / (time.perf_counter() - started)
        warm = 0.0
        for _ in range(passes):
            started = time.perf_counter()
            one()
            warm = max(warm, rows / (time.perf_counter() - started))
        return cold, warm
    finally:
        spark.stop()


def _input_uri(settings: Any) -> str:
    from mlplatform import tables

    return tables.table_uri(settings, "features", "bench")


def ours(settings: Any) -> Callable[[Any], Callable[[], None]]:
    from mlplatform.scoring import batch

    def make(spark: Any) -> Callable[[], None]:
        run = batch.plan(spark, settings, f"{MODEL}@1", _input_uri(settings), RUN_DATE, keys=["id"])

        def one() -> None:
            with batch.arrow_batch_size(spark, run.batch_rows):
                run.frame.write.format("noop").mode("overwrite").save()

        return one

    return make


def spark_udf(settings: Any) -> Callable[[Any], Callable[[], None]]:
    def make(spark: Any) -> Callable[[], None]:
        import mlflow
        from pyspark.sql import functions as F

        from mlplatform.tracking.store import configure

        configure(settings)
        udf = mlflow.pyfunc.spark_udf(spark, f"models:/{MODEL}/1", result_type="long", env_manager="local")
        frame = spark.read.format("delta").load(_input_uri(settings))
        scored = frame.select("id", udf(*[F.col(c) for c in FEATURES]).alias("prediction"))

        def one() -> None:
            scored.write.format("noop").mode("overwrite").save()

        return one

    return make


def _job(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"job failed: {' '.join(argv[:3])}...\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="500,000 rows, 2 warm passes, 1 job each")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--passes", type=int, default=None, help="warm passes per method")
    parser.add_argument("--jobs", type=int, default=None, help="nightly jobs per method (alternating)")
    parser.add_argument("--skip-uv", action="store_true", help="leave out spark_udf(env_manager=uv): minutes a job")
    benchlib.add_arguments(parser, __file__)
    args = parser.parse_args()
    watch = benchlib.LoadWatch.from_args(args).start()
    rows = args.rows or (500_000 if args.quick else 5_000_000)
    passes = args.passes or (2 if args.quick else 3)
    jobs = args.jobs or (1 if args.quick else 3)

    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    home = Path(tempfile.mkdtemp(prefix="mlp-bench-batch-")) / ".mlp"
    os.environ.update(
        {"MLP_HOME": str(home), "MLP_PROJECT": str(REPO), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    )
    from mlplatform.config import load_settings

    settings = load_settings()
    print(f"batch scoring benchmark: {rows:,} rows x {len(FEATURES)} features, HistGradientBoosting (100 iterations)")
    hw = benchlib.hardware(("pyspark", "mlflow", "scikit-learn"), {"Spark profile": "local (local[*])"})
    print(f"hardware: {benchlib.hardware_line(hw)}; load average at start {watch.max_load:.1f}", flush=True)
    model = _fit(200_000)
    _register(settings, model)
    _write_input(settings, rows)

    limit = _one_process(model, rows, passes)
    ours_cold, ours_warm = _passes(settings, rows, passes, ours(settings))
    udf_cold, udf_warm = _passes(settings, rows, passes, spark_udf(settings))

    env = {**os.environ}
    ours_job = [
        sys.executable,
        str(REPO / "jobs" / "score.py"),
        f"{MODEL}@1",
        "--input",
        _input_uri(settings),
        "--run-date",
        RUN_DATE,
        "--keys",
        "id",
    ]

    def udf_job(env_manager: str) -> list[str]:
        code = UDF_JOB.format(model=MODEL, features=FEATURES, run_date=RUN_DATE, env_manager=env_manager)
        return [sys.executable, "-c", code, _input_uri(settings)]

    floor_job = [sys.executable, "-c", FLOOR_JOB.format(run_date=RUN_DATE), _input_uri(settings)]
    with_uv = not args.skip_uv and shutil.which("uv", path=str(Path(sys.executable).parent)) is not None
    if args.skip_uv:
        print("spark_udf(env_manager=uv) left out (--skip-uv)")
    elif with_uv:
        # MLflow starts uv from PATH; the first uv job fills an empty cache
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["UV_CACHE_DIR"] = str(home / "uv-cache")
    else:
        print("spark_udf(env_manager=uv) left out: uv is not installed beside this Python (pip install -e .[bench])")
    times: dict[str, list[float]] = {"ours": [], "udf": [], "udf_uv": [], "floor": []}
    uv_cold = _job(udf_job("uv"), env) if with_uv else None
    for _ in range(jobs):
        times["ours"].append(_job(ours_job, env))
        times["udf"].append(_job(udf_job("local"), env))
        if with_uv:
            times["udf_uv"].append(_job(udf_job("uv"), env))
        times["floor"].append(_job(floor_job, env))
    ours_s, udf_s, floor_s = (statistics.median(times[k]) for k in ("ours", "udf", "floor"))
    uv_s = statistics.median(times["udf_uv"]) if with_uv else None
    watch.stop()
    ratios = {
        "ours_warm_vs_one_process": watch.ratio(ours_warm, limit),
        "ours_warm_vs_udf_warm": watch.ratio(ours_warm, udf_warm),
        "ours_cold_vs_udf_cold": watch.ratio(ours_cold, udf_cold),
        "udf_job_vs_ours": watch.ratio(udf_s, ours_s),
        "udf_uv_job_vs_ours": watch.ratio(uv_s, ours_s) if uv_s else None,
        "udf_uv_cold_job_vs_ours": watch.ratio(uv_cold, ours_s) if uv_cold else None,
        "udf_above_floor_vs_ours": watch.ratio(udf_s - floor_s, ours_s - floor_s),
    }

    print()
    print(f"{'throughput (rows/s)':<44}{'cold':>12}{'warm (best)':>14}")
    print(f"{'one process: model.predict_proba(numpy)':<44}{'-':>12}{limit:>14,.0f}")
    print(f"{'ours: mapInArrow (batch.plan)':<44}{ours_cold:>12,.0f}{ours_warm:>14,.0f}")
    print(f"{'mlflow.pyfunc.spark_udf(env_manager=local)':<44}{udf_cold:>12,.0f}{udf_warm:>14,.0f}")
    print(
        f"ours warm / one process = {watch.cell(ratios['ours_warm_vs_one_process'])} (target >= 0.85x); "
        f"ours warm / spark_udf warm = {watch.cell(ratios['ours_warm_vs_udf_warm'])} (target >= 1.1x); "
        f"cold: {watch.cell(ratios['ours_cold_vs_udf_cold'])}"
    )
    print()
    print(f"{'nightly job, fresh process (s)':<44}{'median':>12}  runs")
    print(f"{'ours: jobs/score.py':<44}{ours_s:>12.1f}  {'  '.join(f'{t:.1f}' for t in times['ours'])}")
    print(f"{'spark_udf(env_manager=local)':<44}{udf_s:>12.1f}  {'  '.join(f'{t:.1f}' for t in times['udf'])}")
    if uv_s is not None and uv_cold is not None:
        runs = "  ".join(f"{t:.1f}" for t in times["udf_uv"])
        print(f"{'spark_udf(env_manager=uv)':<44}{uv_s:>12.1f}  {runs}")
        print(f"{'  its first job (empty uv cache)':<44}{uv_cold:>12.1f}")
    print(f"{'floor: the same job with no model':<44}{floor_s:>12.1f}  {'  '.join(f'{t:.1f}' for t in times['floor'])}")
    print(
        f"spark_udf job / ours: uv {watch.cell(ratios['udf_uv_job_vs_ours'])} (target >= 2x), "
        f"local {watch.cell(ratios['udf_job_vs_ours'])} (target >= 1.1x); "
        f"time above the floor: ours {ours_s - floor_s:.1f} s, spark_udf {udf_s - floor_s:.1f} s "
        f"({watch.cell(ratios['udf_above_floor_vs_ours'])})"
    )
    print(watch.summary())
    benchlib.write_json(
        args.json,
        {
            "rows": rows,
            "passes": passes,
            "jobs": jobs,
            "throughput_rows_s": {
                "one_process": limit,
                "ours": {"cold": ours_cold, "warm": ours_warm},
                "spark_udf": {"cold": udf_cold, "warm": udf_warm},
            },
            "job_s": {
                "runs": times,
                "median": {"ours": ours_s, "udf": udf_s, "udf_uv": uv_s, "floor": floor_s},
                "udf_uv_cold": uv_cold,
            },
            "ratios": ratios,
        },
        watch,
        hw,
    )
    print(f"figures written to {args.json}")
    print(f"\n(everything the benchmark wrote is under {home})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
