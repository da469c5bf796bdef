"""Benchmark: one nightly scoring run from the feature repository against the job a user would write without it.

    .venv/bin/python scripts/bench/scoring_from_features.py                      # 1,000,000 entities
    .venv/bin/python scripts/bench/scoring_from_features.py --entities 100000    # a quick run
    .venv/bin/python scripts/bench/scoring_from_features.py --home DIR           # keep the data, reuse it
    .venv/bin/python scripts/bench/scoring_from_features.py --home DIR --prepare-only  # data now, timing later

Data: the seeded churn generator (mlplatform.features.datagen) with ``--entities``
customers over ``--days`` days (default 120, not the demo's 365: at 1M customers the
demo's ~50 activity rows per customer are ~48M rows, too heavy to generate and ingest on
2 cores next to other work; 120 days give ~17 per customer and every TTL window — 30d
activity, 90d support — is still full at the run date). The demo model's 4 feature sets
(customer_profile, account_activity, activity_rollups, support_contacts) are applied and
ingested on Spark, ts:churn is built, a small HistGradientBoosting pipeline
(``training.pipelines.gradient_boosting``, 30 iterations) is fitted on it and registered
twice in the platform format (``churn_bench`` for ours, ``churn_bench_alt`` for the
alternative: separate scores tables) with the tag ``mlp.training_set=ts:churn@v<n>``. The
population is an entity table of all the customers; the run date is the data's last day
(as-of time: its end, UTC). Everything is prepared once per home (reused with ``--home``).

Timed, each step a fresh Python process (Spark start included), ``--runs`` times alternating:

- ours: ``jobs/score.py churn_bench@1 --run-date D --entities raw/bench_entities``:
  plan (guards), the scoring set by the training set's point-in-time join, scores, the
  scoring set kept in scoring_sets/<model>, lineage;
- the alternative: a Spark job joining, per feature set, the latest row per customer
  (``row_number()`` over customer_id ordered by event time desc, rows with event time <=
  as-of and within the TTL, and known_at <= as-of for support_contacts), the 4 results
  left-joined to the entities on customer_id and written to Delta; then
  ``jobs/score.py churn_bench_alt@1 --input <that table> --keys customer_id``.

Both must score the same entities with the same predictions (probabilities to 1e-9) from
the same feature vectors: checked, not timed. In process (no Spark), the scoring-set build
(``scoring_sets.plan`` + ``build``, pandas engine) is timed against the training-set build
of the same size (``features.build_trainset(engine="pandas", write=False)`` on a label
table with one row per entity at the as-of time), and against the training-set join alone
returning Arrow (``trainsets.plan`` + the in-process join: the same output form).

Targets (issue): ours >= 2x faster end to end; scoring-set build <= 1.2x the training-set build.
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
import warnings
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import benchlib

REPO = Path(__file__).resolve().parents[2]
MODEL = "churn_bench"
ALT_MODEL = "churn_bench_alt"
TRAINSET = "churn"
ENTITIES = "raw/bench_entities"
LABELS = "raw/bench_labels"
PREPARED = "prepared/churn_bench_features"
KEY = "customer_id"
NOT_FEATURES = ["customer_id", "label_time", "churned"]
FIT_ROWS = 100_000
ITERATIONS = 30

ALT_JOIN_JOB = """
import json, sys
from datetime import datetime, timedelta
from pyspark.sql import Window
from pyspark.sql import functions as F
from mlplatform.launch.session import session

cfg = json.loads(sys.argv[1])
as_of = datetime.fromisoformat(cfg["as_of"])
spark = session(app_name="bench-alt-features")
out = spark.read.format("delta").load(cfg["entities"]).select("customer_id").distinct()
for s in cfg["sets"]:
    rows = spark.read.format("delta").load(s["table"]).where(F.col(s["event"]) <= F.lit(as_of))
    if s["ttl_seconds"] is not None:
        rows = rows.where(F.col(s["event"]) >= F.lit(as_of - timedelta(seconds=s["ttl_seconds"])))
    if s["known"]:
        rows = rows.where(F.col(s["known"]) <= F.lit(as_of))
    newest = Window.partitionBy("customer_id").orderBy(F.col(s["event"]).desc())
    latest = rows.withColumn("__r", F.row_number().over(newest)).where("__r = 1")
    out = out.join(latest.select("customer_id", *[F.col(c).alias(o) for c, o in s["columns"]]), "customer_id", "left")
out.write.format("delta").mode("overwrite").save(cfg["output"])
spark.stop()
"""


# --------------------------------------------------------------------------- data


def _register(settings: Any, name: str, model: Any, example: Any, tags: dict[str, str]) -> int:
    """Register ``model`` in the platform format (mlflow.sklearn, cloudpickle, under run artifact model/)."""
    import mlflow
    from mlflow import MlflowClient

    from mlplatform.tracking.model_registry import MODEL_ARTIFACT
    from mlplatform.tracking.store import configure, experiment_id

    configure(settings)
    client = MlflowClient()
    run = client.create_run(experiment_id("bench-scoring-from-features", settings))
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, f"{tmp}/model", serialization_format="cloudpickle", input_example=example)
        client.log_artifacts(run.info.run_id, f"{tmp}/model", MODEL_ARTIFACT)
    client.set_terminated(run.info.run_id)
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:  # a home whose preparation was interrupted has it already
        client.create_registered_model(name)
    mv = client.create_model_version(
        name, f"{run.info.artifact_uri}/{MODEL_ARTIFACT}", run_id=run.info.run_id, tags=tags
    )
    client.set_registered_model_alias(name, "champion", mv.version)
    return int(mv.version)


def _fit(settings: Any, version: int) -> tuple[Any, Any, int, float]:
    """A small gradient-boosting pipeline on a sample of ts:churn@v<version>: (model, example, rows, AUC)."""
    from sklearn.metrics import roc_auc_score

    from mlplatform import features
    from mlplatform.training.pipelines import gradient_boosting

    rows = features.read_trainset(TRAINSET, version, settings)
    rows = rows.sample(n=min(FIT_ROWS, len(rows)), random_state=0)
    X, y = rows.drop(columns=NOT_FEATURES), rows["churned"].astype("int64")
    split = int(len(X) * 0.8)
    model = gradient_boosting().set_params(model__max_iter=ITERATIONS, model__early_stopping=False)
    model.fit(X.iloc[:split], y.iloc[:split])
    auc = float(roc_auc_score(y.iloc[split:], model.predict_proba(X.iloc[split:])[:, 1]))
    model.fit(X, y)
    return model, X.head(5), len(X), auc


def prepare(home: Path, entities: int, days: int) -> dict[str, Any]:
    """Generate, apply, ingest, build ts:churn, fit and register; once per home and size."""
    marker = home / "bench-scoring-from-features.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        if info["entities"] == entities and info["days"] == days:
            print(f"reusing the data prepared in {home}", flush=True)
            return info
        raise SystemExit(
            f"{home} holds data for {info['entities']:,} entities over {info['days']} days: use another --home"
        )
    import numpy as np
    import pandas as pd

    from mlplatform import features, tables
    from mlplatform.config import load_settings
    from mlplatform.features.datagen import raw_config, write_raw_tables
    from mlplatform.launch.session import session

    settings = load_settings()
    started = time.perf_counter()
    t = time.perf_counter()
    written = write_raw_tables(settings, size="tiny", customers=entities, days=days)
    raw_rows = {name: rows for name, (_, _, rows) in written.items()}
    print(
        "generated " + ", ".join(f"{k} {v:,}" for k, v in raw_rows.items()) + f" in {time.perf_counter() - t:.0f}s",
        flush=True,
    )
    features.apply(settings, features.load_feature_sets())
    spark = session(app_name="bench-prepare", settings=settings, conf={"spark.driver.memory": "6g"})
    feature_rows = {}
    for name in ("customer_profile", "account_activity", "activity_rollups", "support_contacts"):
        t = time.perf_counter()
        result = features.ingest(spark, settings, name, mode="overwrite")
        feature_rows[name] = result.rows
        print(f"ingested {result.id}: {result.rows:,} rows in {time.perf_counter() - t:.0f}s", flush=True)
    t = time.perf_counter()
    built = features.build_trainset(TRAINSET, settings, spark=spark)
    spark.stop()
    print(f"built {built.id}: {built.rows:,} rows ({built.engine}) in {time.perf_counter() - t:.0f}s", flush=True)

    t = time.perf_counter()
    model, example, fit_rows, auc = _fit(settings, built.version)
    tags = {"mlp.training_set": built.id}
    versions = {name: _register(settings, name, model, example, tags) for name in (MODEL, ALT_MODEL)}
    print(
        f"fitted gradient_boosting ({ITERATIONS} iterations) on {fit_rows:,} rows of {built.id} "
        f"(holdout ROC-AUC {auc:.3f}) and registered {', '.join(f'{n}@{v}' for n, v in versions.items())} "
        f"in {time.perf_counter() - t:.0f}s",
        flush=True,
    )

    run_date = date.fromisoformat(raw_config()["start"]) + timedelta(days=days - 1)
    as_of = datetime(run_date.year, run_date.month, run_date.day, 23, 59, 59, 999999, tzinfo=timezone.utc)
    ids = np.arange(1, entities + 1, dtype="int64")
    tables.write_pandas(pd.DataFrame({KEY: ids}), tables.resolve_name(settings, ENTITIES), mode="overwrite")
    labels = pd.DataFrame(
        {KEY: ids, "label_time": pd.Series([as_of] * entities).astype("datetime64[us, UTC]"), "churned": 0}
    ).astype({"churned": "int32"})
    tables.write_pandas(labels, tables.resolve_name(settings, LABELS), mode="overwrite")
    info = {
        "entities": entities,
        "days": days,
        "raw_rows": raw_rows,
        "feature_rows": feature_rows,
        "trainset": built.id,
        "trainset_version": built.version,
        "trainset_rows": built.rows,
        "fit_rows": fit_rows,
        "holdout_roc_auc": round(auc, 4),
        "models": versions,
        "run_date": run_date.isoformat(),
        "as_of": as_of.isoformat(),
        "prepare_seconds": round(time.perf_counter() - started, 1),
    }
    marker.write_text(json.dumps(info, indent=2))
    return info


# --------------------------------------------------------------------------- end to end


_TICK = os.sysconf("SC_CLK_TCK")


def _tree_cpu(root: int, seen: dict[int, float]) -> None:
    """Record the CPU seconds (own user + system) of ``root`` and every process below it, as last seen."""
    parents: dict[int, int] = {}
    own: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(entry)] = int(fields[1])
        own[int(entry)] = (int(fields[11]) + int(fields[12])) / _TICK
    for pid, cpu in own.items():
        at = pid
        while at > 1 and at != root:
            at = parents.get(at, 0)
        if at == root:
            seen[pid] = max(seen.get(pid, 0.0), cpu)


def _job(argv: list[str], what: str) -> tuple[float, float, str]:
    """Run one fresh process: (wall seconds, CPU seconds of it and everything it started, stderr).

    CPU is sampled from /proc every 0.25 s (the Spark JVM outlives the reaping that getrusage would need):
    what the job costs whatever else runs on the machine; a process living less than a sample is missed.
    """
    seen: dict[int, float] = {}
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(argv, cwd=REPO, env=os.environ.copy(), stdout=out, stderr=err, text=True)
        while proc.poll() is None:
            _tree_cpu(proc.pid, seen)
            time.sleep(0.25)
        wall = time.perf_counter() - started
        err.seek(0)
        stderr = err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed (exit {proc.returncode}):\n{stderr[-4000:]}")
    return wall, sum(seen.values()), stderr


def _engine(stderr: str) -> str:
    """The point-in-time join engine the job chose (its ``engine auto: ... -> X`` log line)."""
    for line in stderr.splitlines():
        if "engine auto:" in line:
            return line.rsplit("->", 1)[1].strip()
    return "?"


def _alt_config(settings: Any, info: dict[str, Any]) -> dict[str, Any]:
    """What the hand-written job needs: each feature set's table, times, TTL and columns (from the definitions)."""
    from mlplatform import features, tables
    from mlplatform.features.trainsets import registered_sets, selected_columns

    manifest = features.trainset_manifest(TRAINSET, info["trainset_version"], settings)
    definitions = {d.name: d for d in features.load_feature_sets()}
    spec = features.TrainingSetSpec.model_validate(manifest["spec"])
    columns = selected_columns(spec, registered_sets(settings, spec, manifest["features"]))
    sets = []
    for name in manifest["features"]:
        d = definitions[name]
        ttl = d.ttl_delta
        sets.append(
            {
                "table": features.feature_table(settings, name),
                "event": d.event_timestamp,
                "known": d.created_timestamp,
                "ttl_seconds": None if ttl is None else ttl.total_seconds(),
                "columns": columns[name],
            }
        )
    return {
        "as_of": info["as_of"],
        "entities": tables.resolve_name(settings, ENTITIES),
        "output": tables.resolve_name(settings, PREPARED),
        "sets": sets,
    }


def end_to_end(settings: Any, info: dict[str, Any], runs: int, summaries: Path) -> dict[str, list[dict[str, float]]]:
    py, score = sys.executable, str(REPO / "jobs" / "score.py")
    day = info["run_date"]
    ours = [py, score, f"{MODEL}@{info['models'][MODEL]}", "--run-date", day, "--entities", ENTITIES]
    alt_join = [py, "-c", ALT_JOIN_JOB, json.dumps(_alt_config(settings, info))]
    alt_score = [py, score, f"{ALT_MODEL}@{info['models'][ALT_MODEL]}", "--run-date", day]
    alt_score += ["--input", PREPARED, "--keys", KEY]
    times: dict[str, list[dict[str, float]]] = {"ours": [], "alt": []}
    for n in range(runs):
        wall, cpu, log = _job([*ours, "--summary", str(summaries / f"ours-{n}.json")], "ours (jobs/score.py)")
        summary = json.loads((summaries / f"ours-{n}.json").read_text())
        times["ours"].append({"wall": wall, "cpu": cpu, "rows": summary.get("rows", 0), "engine": _engine(log)})
        print(f"  run {n + 1}: ours {wall:.1f}s wall / {cpu:.1f}s CPU (join engine {_engine(log)})", flush=True)
        join_wall, join_cpu, _ = _job(alt_join, "alternative: the Spark window join")
        score_wall, score_cpu, _ = _job(
            [*alt_score, "--summary", str(summaries / f"alt-{n}.json")], "alternative: jobs/score.py --input"
        )
        summary = json.loads((summaries / f"alt-{n}.json").read_text())
        times["alt"].append(
            {
                "wall": join_wall + score_wall,
                "cpu": join_cpu + score_cpu,
                "join_wall": join_wall,
                "join_cpu": join_cpu,
                "score_wall": score_wall,
                "score_cpu": score_cpu,
                "rows": summary.get("rows", 0),
            }
        )
        print(
            f"  run {n + 1}: alternative {join_wall + score_wall:.1f}s wall (join {join_wall:.1f}s + score "
            f"{score_wall:.1f}s) / {join_cpu + score_cpu:.1f}s CPU",
            flush=True,
        )
    return times


def same_results(settings: Any, info: dict[str, Any]) -> dict[str, Any]:
    """Both jobs' scores (entities, predictions, probabilities) and the feature vectors they scored."""
    import numpy as np

    from mlplatform import tables
    from mlplatform.features.trainsets import canonical
    from mlplatform.scoring.batch import scores_uri
    from mlplatform.scoring.from_features import scoring_set_uri

    day = info["run_date"]
    where = [("run_date", "=", date.fromisoformat(day))]
    cols = [KEY, "prediction", "probability"]
    ours = tables.to_pandas(scores_uri(settings, MODEL), columns=cols, filters=where).sort_values(KEY)
    alt = tables.to_pandas(scores_uri(settings, ALT_MODEL), columns=cols, filters=where).sort_values(KEY)
    same_entities = len(ours) == len(alt) and ours[KEY].is_unique and (ours[KEY].values == alt[KEY].values).all()
    out: dict[str, Any] = {"rows_ours": len(ours), "rows_alt": len(alt), "same_entities": bool(same_entities)}
    if same_entities:
        out["same_predictions"] = bool((ours["prediction"].values == alt["prediction"].values).all())
        out["max_probability_diff"] = float(np.max(np.abs(ours["probability"].values - alt["probability"].values)))
    else:
        out["same_predictions"], out["max_probability_diff"] = False, None
    vectors = tables.to_pandas(scoring_set_uri(settings, MODEL), filters=where)
    prepared = tables.to_pandas(tables.resolve_name(settings, PREPARED))
    feature_cols = list(prepared.columns)
    out["same_feature_vectors"] = bool(
        len(vectors) == len(prepared) and canonical(vectors, feature_cols).equals(canonical(prepared, feature_cols))
    )
    out["ok"] = bool(
        out["same_entities"]
        and out["same_predictions"]
        and out["max_probability_diff"] is not None
        and out["max_probability_diff"] <= 1e-9
    )
    return out


# --------------------------------------------------------------------------- in-process builds


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    runs, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        runs.append(time.perf_counter() - started)
    return runs, value


def builds(settings: Any, info: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Scoring-set build against the same-size training-set build, in this process, pandas engine."""
    from mlplatform import features, tables
    from mlplatform.features import scoring_sets
    from mlplatform.features.scoring_sets import EntityTable
    from mlplatform.features.trainsets import _run_pandas, canonical
    from mlplatform.features.trainsets import plan as trainset_plan

    manifest = features.trainset_manifest(TRAINSET, info["trainset_version"], settings)
    uri = tables.resolve_name(settings, ENTITIES)
    version = tables.version(uri)
    entities = EntityTable(id=f"delta:{uri}@v{version}", uri=uri, version=version)
    as_of = datetime.fromisoformat(info["as_of"])
    subject = f"model {MODEL}@{info['models'][MODEL]}"

    phases: dict[str, list[float]] = {"plan": [], "build": []}

    def scoring_set() -> Any:
        t = time.perf_counter()
        p = scoring_sets.plan(settings, manifest, as_of, subject, entities)
        phases["plan"].append(time.perf_counter() - t)
        t = time.perf_counter()
        rows = scoring_sets.build(p, "pandas")
        phases["build"].append(time.perf_counter() - t)
        return rows

    spec = features.TrainingSetSpec.model_validate(
        {**manifest["spec"], "name": "bench_labels", "labels": {**manifest["spec"]["labels"], "table": LABELS}}
    )
    scoring_runs, scored = _timed(scoring_set, repeat)
    trainset_runs, trained = _timed(
        lambda: features.build_trainset(spec, settings, engine="pandas", write=False), repeat
    )
    arrow_runs, _ = _timed(lambda: _run_pandas(trainset_plan(settings, spec)), repeat)
    columns = [KEY, *[c for c in manifest["columns"] if c not in NOT_FEATURES]]
    same = canonical(scored.to_pandas(), columns).equals(canonical(trained, columns))
    return {
        "rows": scored.num_rows,
        "scoring_set": scoring_runs,
        "scoring_set_plan": phases["plan"],
        "scoring_set_build": phases["build"],
        "trainset_build": trainset_runs,
        "trainset_join_arrow": arrow_runs,
        "same_rows_as_trainset": bool(same),
    }


# --------------------------------------------------------------------------- report


def _verdict(ok: bool | None) -> str:
    return "n/r" if ok is None else "PASS" if ok else "MISS"


def _at_least(value: float | None, target: float) -> bool | None:
    return None if value is None else value >= target


def _at_most(value: float | None, target: float) -> bool | None:
    return None if value is None else value <= target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=1_000_000, help="customers = entities scored (default 1M)")
    parser.add_argument("--days", type=int, default=120, help="days of generated history (default 120, see above)")
    parser.add_argument("--home", type=Path, help="platform home for the data (default: a new temp dir, removed)")
    parser.add_argument("--runs", type=int, default=1, help="end-to-end runs per method, alternating (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="in-process builds per method (default 3)")
    parser.add_argument("--prepare-only", action="store_true", help="prepare the data in --home and stop (no timing)")
    benchlib.add_arguments(parser, __file__)
    args = parser.parse_args()

    watch = benchlib.LoadWatch.from_args(args).start()
    if args.prepare_only and not args.home:
        parser.error("--prepare-only keeps the data: give --home DIR")
    scratch = None if args.home else Path(tempfile.mkdtemp(prefix="mlp-bench-sff-"))
    home = (args.home or scratch / ".mlp").resolve()  # type: ignore[operator]
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {"MLP_HOME": str(home), "MLP_PROJECT": str(REPO), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    )
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    hw = benchlib.hardware(("pyspark",), {"Spark profile": "local (local[*], driver 2g: conf/spark/local.conf)"})
    print(f"scoring from the feature repository: {args.entities:,} entities x 4 feature sets, one nightly run")
    print(f"hardware: {benchlib.hardware_line(hw)}")
    print(f"load average at start: {watch.max_load:.2f} (1 min)", flush=True)
    print(
        f"data: datagen with {args.entities:,} customers over {args.days} days"
        + (
            " (the demo's 365 days make ~50 activity rows per customer; fewer keep it feasible on 2 cores)"
            if args.days < 365
            else ""
        ),
        flush=True,
    )
    from mlplatform.config import load_settings

    settings = load_settings()
    try:
        info = prepare(home, args.entities, args.days)
        if args.prepare_only:
            print(f"prepared in {home}: time it with --home {home}", flush=True)
            return 0
        print(f"run date {info['run_date']} (as of {info['as_of']}); timing {args.runs} run(s) of each", flush=True)
        with tempfile.TemporaryDirectory() as summaries:
            times = end_to_end(settings, info, args.runs, Path(summaries))
        checks = same_results(settings, info)
        print(f"timing the in-process builds ({args.repeat} each)", flush=True)
        built = builds(settings, info, args.repeat)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    watch.stop()

    med = {
        k: {f: statistics.median(r[f] for r in runs) for f, v in runs[0].items() if not isinstance(v, str)}
        for k, runs in times.items()
    }
    ours_s, alt_s = med["ours"]["wall"], med["alt"]["wall"]
    speedup = watch.ratio(alt_s, ours_s)
    cpu_ratio = watch.ratio(med["alt"]["cpu"], med["ours"]["cpu"])
    best = {k: min(built[k]) for k in ("scoring_set", "trainset_build", "trainset_join_arrow")}
    ratio = watch.ratio(best["scoring_set"], best["trainset_build"])
    ratio_arrow = watch.ratio(best["scoring_set"], best["trainset_join_arrow"])

    n = info["entities"]
    fr = info["feature_rows"]
    print()
    print(
        f"Nightly scoring of {n:,} entities from 4 feature sets ("
        + ", ".join(f"{k} {v:,}" for k, v in fr.items())
        + f" rows; {info['days']} days of data), model {info['trainset']} -> HistGradientBoosting "
        f"({ITERATIONS} iterations), run date {info['run_date']}"
    )
    print(f"hardware: {benchlib.hardware_line(hw)}")
    print(watch.summary())
    print()
    runs_note = f"median of {args.runs}" if args.runs > 1 else "1 run"
    print(f"| {'end to end, fresh processes (' + runs_note + ')':<58} | {'wall':>8} | {'CPU':>8} |")
    print(f"|{'-' * 60}|{'-' * 10}|{'-' * 10}|")
    alt = med["alt"]
    for label, wall, cpu in (
        (f"ours: jobs/score.py --entities (join engine {times['ours'][0]['engine']})", ours_s, med["ours"]["cpu"]),
        ("alternative, step 1: Spark row_number join -> Delta", alt["join_wall"], alt["join_cpu"]),
        ("alternative, step 2: jobs/score.py --input", alt["score_wall"], alt["score_cpu"]),
        ("alternative, total", alt_s, alt["cpu"]),
    ):
        print(f"| {label:<58} | {wall:>7.1f}s | {cpu:>7.1f}s |")
    print(
        "(CPU = user+system seconds of the job process and every process it started — the Spark JVM, its Python"
        " workers — sampled from /proc: what the run costs, whatever else runs on the machine)"
    )
    print(
        f"alternative / ours = {watch.cell(speedup)} wall, {watch.cell(cpu_ratio)} CPU"
        f" (target >= 2x wall): {_verdict(_at_least(speedup, 2.0))}"
    )
    print()
    print(
        f"same rows: {checks['rows_ours']:,} scored by ours, {checks['rows_alt']:,} by the alternative; "
        f"same entities: {'yes' if checks['same_entities'] else 'NO'}; same predictions: "
        f"{'yes' if checks['same_predictions'] else 'NO'}; max |probability difference| "
        f"{checks['max_probability_diff']!s} (<= 1e-9: {'yes' if checks['ok'] else 'NO'}); same feature vectors: "
        f"{'yes' if checks['same_feature_vectors'] else 'NO'}"
    )
    print()
    title = f"build in process, pandas engine, {built['rows']:,} rows"
    print(f"| {title:<58} | {'best':>8} | {'median':>8} |")
    print(f"|{'-' * 60}|{'-' * 10}|{'-' * 10}|")
    for key, label in (
        ("scoring_set", "scoring set: scoring_sets.plan + build (Arrow)"),
        ("trainset_build", "training set: build_trainset(write=False) (pandas)"),
        ("trainset_join_arrow", "training set: trainsets.plan + join (Arrow)"),
    ):
        print(f"| {label:<58} | {min(built[key]):>7.2f}s | {statistics.median(built[key]):>7.2f}s |")
    fastest = built["scoring_set"].index(best["scoring_set"])
    print(
        f"(scoring set, fastest run: plan {built['scoring_set_plan'][fastest]:.2f}s — definitions, staleness of each "
        f"set, entity table — then build {built['scoring_set_build'][fastest]:.2f}s)"
    )
    print(
        f"scoring set / training-set build = {watch.cell(ratio)} (target <= 1.2x): {_verdict(_at_most(ratio, 1.2))}; "
        f"against the Arrow-only join {watch.cell(ratio_arrow)}: {_verdict(_at_most(ratio_arrow, 1.2))}; "
        f"same rows as the training set at the as-of time: {'yes' if built['same_rows_as_trainset'] else 'NO'}"
    )

    payload = {
        "benchmark": "scoring_from_features",
        "data": info,
        "end_to_end": {
            "runs": times,
            "median": med,
            "speedup": speedup,
            "cpu_ratio": cpu_ratio,
            "target": 2.0,
            "pass": _at_least(speedup, 2.0),
        },
        "checks": checks,
        "builds": {
            **built,
            "best": best,
            "ratio": ratio,
            "ratio_arrow": ratio_arrow,
            "target": 1.2,
            "pass": _at_most(ratio, 1.2),
            "pass_arrow": _at_most(ratio_arrow, 1.2),
        },
    }
    benchlib.write_json(args.json, payload, watch, hw)
    print(f"\nfigures written to {args.json}" + (f"; the data is in {home}" if scratch is None else ""))
    return 0 if checks["ok"] and checks["same_feature_vectors"] and built["same_rows_as_trainset"] else 1


if __name__ == "__main__":
    sys.exit(main())
