"""Benchmark: submitting a job to YARN with ``mlp submit`` against a plain ``spark-submit``.

Starts its own one-machine Hadoop (free ports, temporary platform home), then times,
from the moment the submit command starts:

- to the first task: the earliest start of a task on an executor (the job records it);
- to the job end: the submit command's exit.

for: ``mlp submit`` on a fresh cluster (Spark's jars and pyspark's zips uploaded to
HDFS once, NodeManager localizes them once), ``mlp submit`` again (everything cached),
and a plain ``spark-submit`` of the same job and settings without ``spark.yarn.archive``
(Spark zips and uploads its jars for every application, as users do by default).

    .venv/bin/python scripts/bench/yarn_submit.py [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

REPO = Path(__file__).resolve().parents[2]
JOB_FLAG = "--as-job"
FRESH = "mlp submit, fresh cluster (uploads once)"
REPEAT = "mlp submit, repeat (all cached)"
PLAIN = "plain spark-submit (uploads Spark's jars)"


def job(out: str, tasks: int) -> None:
    """The measured job: ``tasks`` small tasks that record when they started."""
    from mlplatform.launch.session import session

    spark = session(app_name="mlp-bench-yarn")

    def started(_: int) -> float:
        import time as _time

        return _time.time()

    starts = spark.sparkContext.parallelize(range(tasks), tasks).map(started).collect()
    Path(out).write_text(json.dumps({"first_task": min(starts)}))
    spark.stop()


def _bytes_written(namenode_http: str) -> int:
    """Bytes the DataNodes have written so far (their DataNodeActivity metrics)."""
    from mlplatform.launch.minicluster import http_json

    info = http_json(f"{namenode_http}/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo")["beans"][0]
    total = 0
    for node in json.loads(info["LiveNodes"]).values():
        beans = http_json(f"http://{node['infoAddr']}/jmx?qry=Hadoop:service=DataNode,name=DataNodeActivity-*")["beans"]
        total += sum(int(b["BytesWritten"]) for b in beans)
    return total


def _timed(argv: list[str], env: dict[str, str], out: Path, namenode_http: str) -> dict[str, float]:
    out.unlink(missing_ok=True)
    written = _bytes_written(namenode_http)
    start = time.time()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    end = time.time()
    if proc.returncode != 0 or not out.is_file():
        raise SystemExit(f"submit failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    first = json.loads(out.read_text())["first_task"]
    return {"first_task": first - start, "end": end - start, "mb": (_bytes_written(namenode_http) - written) / 1e6}


def _plain(command, settings) -> tuple[list[str], dict[str, str]]:  # type: ignore[no-untyped-def]
    """The same spark-submit line without the platform's HDFS caches: Spark uploads its jars itself."""
    from mlplatform.launch import jars

    argv: list[str] = []
    skip = False
    for i, arg in enumerate(command.argv):
        if skip:
            skip = False
            continue
        if arg == "--conf" and command.argv[i + 1].startswith(
            ("spark.yarn.archive=", "spark.yarn.tags=", "spark.mlp.")
        ):
            skip = True
            continue
        if i > 0 and command.argv[i - 1] == "--jars":
            arg = ",".join(str(p) for p in jars.delta_jars(settings.jars_dir))
        argv.append(arg)
    env = {k: v for k, v in command.full_env().items() if k != "PYSPARK_ARCHIVES_PATH"}
    return argv, env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(JOB_FLAG, dest="job_out", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="one run of each (default: 3 repeats)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--tasks", type=int, default=4)
    benchlib.add_arguments(parser, __file__)
    args = parser.parse_args()
    if args.job_out:
        job(args.job_out, args.tasks)
        return 0
    watch = benchlib.LoadWatch.from_args(args).start()
    repeats = args.repeats or (1 if args.quick else 3)

    from mlplatform.config import load_settings
    from mlplatform.launch import minicluster
    from mlplatform.launch.submit import build_submit

    with tempfile.TemporaryDirectory(prefix="mlp-bench-yarn-") as tmp:
        os.environ.update({"MLP_PROJECT": str(REPO), "MLP_HOME": f"{tmp}/.mlp"})
        os.environ.pop("HADOOP_CONF_DIR", None)
        settings = load_settings()
        t0 = time.time()
        cluster, _ = minicluster.up(settings, minicluster.Ports.any())
        startup = time.time() - t0
        out = Path(tmp) / "job.json"
        job_args = [JOB_FLAG, str(out), "--tasks", str(args.tasks)]
        mlp = [str(Path(sys.executable).with_name("mlp")), "submit", "--profile", "yarn", __file__, *job_args]
        env = {**os.environ, "HADOOP_CONF_DIR": str(cluster.conf_dir)}
        rows: dict[str, list[dict[str, float]]] = {}
        try:
            rows[FRESH] = [_timed(mlp, env, out, cluster.namenode_http)]
            os.environ["HADOOP_CONF_DIR"] = str(cluster.conf_dir)
            argv, plain_env = _plain(build_submit(settings, __file__, job_args, profile="yarn"), settings)
            for _ in range(repeats):  # interleaved, so a change in the machine's load hits both alike
                rows.setdefault(REPEAT, []).append(_timed(mlp, env, out, cluster.namenode_http))
                rows.setdefault(PLAIN, []).append(_timed(argv, plain_env, out, cluster.namenode_http))
            checks = time.time()
            subprocess.run([*mlp[:2], "--print", *mlp[2:]], env=env, capture_output=True, check=True)
            checks = time.time() - checks
        finally:
            minicluster.down(settings)

    watch.stop()
    hw = benchlib.hardware(("pyspark",), {"hadoop": minicluster.hadoop_version()})
    print(
        f"\nYARN submit latency — one-machine Hadoop {minicluster.hadoop_version()}, pyspark client mode, "
        f"{args.tasks} tasks on 2 executors; cluster start {startup:.1f} s"
    )
    print(f"machine: {benchlib.hardware_line(hw)}")
    print(f"{'submit':<44} {'runs':>4} {'to first task s':>16} {'to job end s':>13} {'MB to HDFS':>11}")
    medians = {
        name: {key: statistics.median(float(r[key]) for r in runs) for key in ("first_task", "end", "mb")}
        for name, runs in rows.items()
    }
    for name, runs in rows.items():
        m = medians[name]
        print(f"{name:<44} {len(runs):>4} {m['first_task']:>16.1f} {m['end']:>13.1f} {m['mb']:>11.1f}")
    print(f"{'mlp submit --print (checks, cache lookups)':<44} {1:>4} {'':>16} {checks:>13.1f}")
    print("(medians; MB to HDFS: bytes the DataNode wrote during the run: uploads, staging, job output)")
    ratios = {key: watch.ratio(medians[PLAIN][key], medians[REPEAT][key]) for key in ("first_task", "end")}
    print(
        f"plain spark-submit / mlp submit repeat = {watch.cell(ratios['first_task'])} to the first task, "
        f"{watch.cell(ratios['end'])} to the job end"
    )
    print(watch.summary())
    benchlib.write_json(
        args.json,
        {
            "tasks": args.tasks,
            "repeats": repeats,
            "cluster_start_s": startup,
            "runs": rows,
            "median": medians,
            "print_checks_s": checks,
            "plain_vs_repeat": ratios,
        },
        watch,
        hw,
    )
    print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
