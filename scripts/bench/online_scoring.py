"""Benchmark: online scoring, our gunicorn + WSGI server against ``mlflow models serve``.

    .venv/bin/python scripts/bench/online_scoring.py           # full: 1000-2000 requests a cell
    .venv/bin/python scripts/bench/online_scoring.py --quick   # 200-400 requests a cell, smaller model
    .venv/bin/python scripts/bench/online_scoring.py --skip-size

Same model, same machine, same run, loopback only:

- the model: HistGradientBoostingClassifier (100 iterations; 30 with --quick) on 10
  double features, logged as training registers models (cloudpickle, pandas example),
  with a real environment built by ``mlplatform.envs`` (pins = the driver's versions).
- ours: the exported build context's entrypoint (``python -m gunicorn --config
  gunicorn.conf.py mlp_scoring_server:create_app()``), run by a venv holding exactly
  the image's dependency set (env lock + gunicorn), default settings (one worker per core).
- MLflow: ``mlflow models serve --env-manager local`` (uvicorn + FastAPI) on the same
  model directory, with its default single worker and with as many workers as ours.

Measured per server: cold start (process start to the first 200 on /ping, median of
3), then single-row and 100-row ``dataframe_split`` requests at concurrency 1 and 8
(one persistent connection per client thread, reconnecting when the server closes
it): p50 / p99 latency and requests/s. Every answer is checked against the local
model's predictions. The floor, in the same run: the model's own ``predict_proba`` of
the same single row (a pandas DataFrame) in this process, no HTTP, p50 of 2,000 calls.
Finally the installed size of the image's dependency set (a
venv of the context's requirement files) against what ``mlflow models build-docker``
installs (``pip install mlflow==<version>`` + the model's requirements.txt, on a
python:<version>-slim base; its nginx is not counted).

Targets (issue 8): p50 single-row latency <= 1/3 of MLflow's, throughput >= 2x at
concurrency 8, cold start < 2 s; (issue 20) p50 single-row latency <= 1.5x the in-process floor.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Iterator

import benchlib

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "serving"))
from serving_support import env_spec_text, free_port, start, stop  # noqa: E402  (the tests' helpers)

CACHE = REPO / ".mlp" / "bench-cache" / "online_scoring"
PY = sys.executable
FEATURES = [f"f{i}" for i in range(10)]


@dataclass
class Cell:
    server: str
    rows: int
    concurrency: int
    requests: int
    p50_ms: float
    p99_ms: float
    rps: float


@contextmanager
def running(argv: list[str], cwd: Path | None, env: dict[str, str], port: int, log: Path) -> Iterator[float]:
    """Run a server for the block; yields the seconds from process start to the first 200 on /ping."""
    started = time.perf_counter()
    proc = start(argv, cwd, env, port, log, timeout=300)
    try:
        yield time.perf_counter() - started
    finally:
        stop(proc)


def load(
    port: int, body: bytes, want: list[Any], concurrency: int, total: int, seconds: float
) -> tuple[list[float], float]:
    """``total`` POSTs (or until ``seconds`` pass) from ``concurrency`` threads; latencies (s) and wall time."""
    lock = threading.Lock()
    issued = [0]
    latencies: list[float] = []
    failures: list[str] = []
    deadline = time.perf_counter() + seconds
    headers = {"Content-Type": "application/json"}

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        try:
            while True:
                with lock:
                    if issued[0] >= total or time.perf_counter() > deadline:
                        break
                    issued[0] += 1
                t0 = time.perf_counter()
                try:
                    conn.request("POST", "/invocations", body, headers)
                    resp = conn.getresponse()
                    raw = resp.read()
                except (http.client.HTTPException, OSError):
                    conn.close()  # the server closed the connection: reconnect and retry once
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    conn.request("POST", "/invocations", body, headers)
                    resp = conn.getresponse()
                    raw = resp.read()
                mine.append(time.perf_counter() - t0)
                if resp.status != 200 or json.loads(raw)["predictions"] != want:
                    failures.append(f"{resp.status}: {raw[:200]!r}")
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"{len(failures)} wrong or failed answers, e.g. {failures[0]}")
    return latencies, wall


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def in_process_p50_ms(model: Any, row: Any, calls: int = 2000) -> float:
    """p50 milliseconds of ``model.predict_proba(row)`` in this process, after 100 untimed calls."""
    for _ in range(100):
        model.predict_proba(row)
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        model.predict_proba(row)
        latencies.append(time.perf_counter() - started)
    return 1000 * percentile(latencies, 0.5)


def site_packages_size(venv: Path) -> tuple[int, int]:
    """Bytes under site-packages and the number of installed distributions."""
    site = next(venv.glob("lib/python*/site-packages"))
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and not p.is_symlink())
    freeze = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "freeze"], capture_output=True, text=True, check=True
    ).stdout.split()
    return size, len(freeze)


def mlflow_venv(model_dir: Path) -> Path:
    """A venv of what MLflow's build-docker installs: mlflow itself + the model's requirements.txt."""
    reqs = (model_dir / "requirements.txt").read_text()
    spec = f"mlflow=={version('mlflow')}\n{reqs}"
    target = CACHE / "venvs" / f"mlflow-{hashlib.sha256(spec.encode()).hexdigest()[:12]}"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run([PY, "-m", "venv", str(target)], check=True)
    (target / "requirements.txt").write_text(spec)
    subprocess.run(
        [
            str(target / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(target / "requirements.txt"),
        ],
        check=True,
    )
    (target / ".complete").write_text(spec)
    return target


def setup_model(quick: bool, home: Path) -> tuple[Path, Any, Any]:
    """Build the env, fit and register the model, export its context; return (context, model, rows)."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient
    from sklearn.ensemble import HistGradientBoostingClassifier

    from mlplatform import envs
    from mlplatform.config import load_settings
    from mlplatform.scoring.export import export_docker
    from mlplatform.tracking.model_registry import TAG_ENV_ID
    from mlplatform.tracking.store import experiment_id

    os.environ.update({"MLP_PROJECT": str(REPO), "MLP_HOME": str(home), "MLP_ARTIFACTS": str(CACHE / "artifacts")})
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    settings = load_settings()
    spec = CACHE / "envs" / "bench-online.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    text = env_spec_text("bench-online")
    if not spec.is_file() or spec.read_text() != text:
        spec.write_text(text)
    artifact = envs.build(spec, settings)
    rng = np.random.default_rng(0)
    n = 5_000 if quick else 20_000
    frame = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    label = (frame["f0"] + frame["f1"] * frame["f2"] - frame["f3"] > 0).astype(int)
    model = HistGradientBoostingClassifier(max_iter=30 if quick else 100, early_stopping=False, random_state=0).fit(
        frame, label
    )
    lock = [f"{k}=={v}" for k, v in sorted(artifact.packages.items())]
    with mlflow.start_run(experiment_id=experiment_id("bench-online", settings)) as run:
        mlflow.sklearn.log_model(
            model, name="model", serialization_format="cloudpickle", input_example=frame.head(3), pip_requirements=lock
        )
    mv = mlflow.register_model(f"runs:/{run.info.run_id}/model", "bench_online")
    MlflowClient().set_model_version_tag("bench_online", mv.version, TAG_ENV_ID, artifact.id)
    context = export_docker(f"bench_online@{mv.version}", home / "context", settings)
    return context, model, frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and a smaller model")
    parser.add_argument("--skip-size", action="store_true", help="do not build the MLflow venv for the size comparison")
    benchlib.add_arguments(parser, __file__)
    args = parser.parse_args()
    watch = benchlib.LoadWatch.from_args(args).start()
    sys.path.insert(0, str(REPO / "platform"))
    from mlplatform.scoring.export import ENTRYPOINT, context_venv

    cores = benchlib.usable_cores()
    home = Path(tempfile.mkdtemp(prefix="mlp-bench-online-"))
    try:
        print("setting up: environment, model, export, venv of the image's dependency set ...", flush=True)
        context, model, frame = setup_model(args.quick, home)
        image_venv = context_venv(context, CACHE / "venvs")
        ours_env = {"MLP_HOST": "127.0.0.1", "PYTHONPATH": ""}
        mlflow_bin = str(Path(PY).with_name("mlflow"))
        # mlflow starts `uvicorn` from PATH
        mlflow_env = {"PATH": f"{Path(PY).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        servers = [
            (
                f"ours: gunicorn + WSGI, {cores} workers",
                lambda port: (
                    [str(image_venv / "bin" / "python"), *ENTRYPOINT[1:]],
                    context,
                    {**ours_env, "MLP_PORT": str(port)},
                ),
            ),
            (
                "mlflow models serve, 1 worker",
                lambda port: (
                    [
                        mlflow_bin,
                        "models",
                        "serve",
                        "-m",
                        str(context / "model"),
                        "--env-manager",
                        "local",
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(port),
                    ],
                    None,
                    mlflow_env,
                ),
            ),
            (
                f"mlflow models serve, {cores} workers",
                lambda port: (
                    [
                        mlflow_bin,
                        "models",
                        "serve",
                        "-m",
                        str(context / "model"),
                        "--env-manager",
                        "local",
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "-w",
                        str(cores),
                    ],
                    None,
                    mlflow_env,
                ),
            ),
        ]
        bodies = {}
        for rows in (1, 100):
            sample = frame.sample(rows, random_state=rows)
            bodies[rows] = (
                json.dumps({"dataframe_split": json.loads(sample.to_json(orient="split", index=False))}).encode(),
                model.predict(sample).tolist(),
            )
        counts = {1: 200, 8: 400} if args.quick else {1: 1000, 8: 2000}
        seconds = 15 if args.quick else 40
        floor_ms = in_process_p50_ms(model, frame.sample(1, random_state=1))
        cells: list[Cell] = []
        cold: dict[str, float] = {}
        for name, make in servers:
            print(f"measuring {name} ...", flush=True)
            starts = []
            for _ in range(3):
                port = free_port()
                with running(*make(port), port, home / "server.log") as took:
                    starts.append(took)
            cold[name] = statistics.median(starts)
            port = free_port()
            with running(*make(port), port, home / "server.log"):
                time.sleep(2)  # let every worker finish booting
                for rows, (body, want) in bodies.items():
                    load(port, body, want, 8, 100, 30)  # warm-up
                    for concurrency, total in counts.items():
                        latencies, wall = load(port, body, want, concurrency, total, seconds)
                        cells.append(
                            Cell(
                                name,
                                rows,
                                concurrency,
                                len(latencies),
                                1000 * percentile(latencies, 0.5),
                                1000 * percentile(latencies, 0.99),
                                len(latencies) / wall,
                            )
                        )
        sizes = {}
        sizes["image dependency set (env lock + gunicorn)"] = site_packages_size(image_venv)
        if not args.skip_size:
            print("building a venv of what mlflow models build-docker installs (cached) ...", flush=True)
            sizes[f"mlflow build-docker set (mlflow=={version('mlflow')} + model requirements)"] = site_packages_size(
                mlflow_venv(context / "model")
            )
        watch.stop()
        hw = benchlib.hardware(("mlflow", "gunicorn", "scikit-learn"), {"network": "loopback"})
        ratios = report(cells, cold, floor_ms, sizes, args.quick, watch, hw)
        benchlib.write_json(
            args.json,
            {
                "quick": args.quick,
                "cells": [asdict(c) for c in cells],
                "cold_start_s": cold,
                "in_process_predict_proba_1_row_p50_ms": floor_ms,
                "installed": {name: {"bytes": size, "packages": count} for name, (size, count) in sizes.items()},
                "ratios": ratios,
            },
            watch,
            hw,
        )
        print(f"figures written to {args.json}")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def report(
    cells: list[Cell],
    cold: dict[str, float],
    floor_ms: float,
    sizes: dict[str, tuple[int, int]],
    quick: bool,
    watch: benchlib.LoadWatch,
    hw: dict[str, Any],
) -> dict[str, float | None]:
    """Print the tables and the ratios against MLflow; returns the ratios (None: not reported, see ``watch``)."""
    print()
    print(
        f"Online scoring, {'--quick, ' if quick else ''}HistGradientBoosting on {len(FEATURES)} features; "
        f"same run; {benchlib.hardware_line(hw)}"
    )
    print(f"{'server':<40} {'rows':>4} {'conc':>4} {'reqs':>5} {'p50 ms':>7} {'p99 ms':>7} {'req/s':>7}")
    for c in cells:
        print(
            f"{c.server:<40} {c.rows:>4} {c.concurrency:>4} {c.requests:>5} "
            f"{c.p50_ms:>7.2f} {c.p99_ms:>7.2f} {c.rps:>7.0f}"
        )
    print()
    print(f"{'cold start (process start -> /ping 200, median of 3)':<60} seconds")
    for name, took in cold.items():
        print(f"  {name:<58} {took:.2f}")
    print()
    print(f"{'installed size (site-packages)':<80} {'MB':>6} {'packages':>8}")
    for name, (size, count) in sizes.items():
        print(f"  {name:<78} {size / 1e6:>6.0f} {count:>8}")
    ours = cells[0].server
    by = {(c.server, c.rows, c.concurrency): c for c in cells}
    theirs = [name for name in cold if name != ours]
    print()
    print("ratios, ours against the better MLflow configuration:")
    ratios: dict[str, float | None] = {}
    for rows in (1, 100):
        best_p50 = min(by[(t, rows, 1)].p50_ms for t in theirs)
        best_rps = max(by[(t, rows, 8)].rps for t in theirs)
        p50 = ratios[f"p50_c1_{rows}_rows"] = watch.ratio(by[(ours, rows, 1)].p50_ms, best_p50)
        rps = ratios[f"rps_c8_{rows}_rows"] = watch.ratio(by[(ours, rows, 8)].rps, best_rps)
        print(
            f"  {rows:>3} rows: p50 at concurrency 1 = {watch.cell(p50, suffix=' x')} MLflow's "
            "(target <= 0.33 for 1 row); "
            f"req/s at concurrency 8 = {watch.cell(rps, '.1f', ' x')} MLflow's (target >= 2)"
        )
    over_floor = ratios["p50_c1_1_row_vs_in_process"] = watch.ratio(by[(ours, 1, 1)].p50_ms, floor_ms)
    print(
        f"  1 row: p50 at concurrency 1 = {watch.cell(over_floor, suffix=' x')} the model's in-process "
        f"predict_proba of the row ({floor_ms:.2f} ms; target <= 1.5)"
    )
    print(f"  cold start {cold[ours]:.2f} s (target < 2 s)")
    if len(sizes) == 2:
        (a, _), (b, _) = sizes.values()
        print(f"  installed size {a / 1e6:.0f} MB against {b / 1e6:.0f} MB ({a / b:.0%})")
    print(watch.summary())
    return ratios


if __name__ == "__main__":
    main()
