"""Benchmark: the web catalog's pages at scale, against the MLflow UI's model page on the same registry.

    .venv/bin/python scripts/bench/catalog.py [--versions 1000] [--edges 10000] [--audit-rows 100000] [--requests 20]

A home is populated quickly: ``--versions`` versions of model ``churn`` registered with
``MlflowClient`` into a SQLite store (a run each, with held-out metrics and the platform's
tags; the last version champion), ``--edges`` lineage edges and ``--audit-rows`` edge-less
audit rows appended to the lineage table through the hash chain's writer
(``lineage.chain.append``, commits of 10,000 rows, so the chain verifies), and one pending
promotion request. Then ``mlp ui`` (a separate process) and ``mlflow ui`` on the same
SQLite store serve it; each page is fetched twice to warm up, then ``--requests`` times:
p50/p95 per page. MLflow's model page is its two REST calls (``registered-models/get``,
``model-versions/search``, as its page asks for them) and its HTML shell.

Target (issue 22): every catalog page < 300 ms (p95, warm). Results: printed table and
``.mlp/bench/catalog.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import benchlib

REPO = Path(__file__).resolve().parents[2]
MLP = str(Path(sys.executable).with_name("mlp"))
MODEL = "churn"
ENV_ID = "env:sklearn@0123456789ab"
TARGET_MS = 300.0
BATCH = 10_000
STARTUP_S = 180


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _register(settings: Any, versions: int) -> None:
    """``versions`` versions of MODEL, each with its run, metrics and the platform's tags; the last one champion."""
    from mlflow.entities import Metric

    from mlplatform.lifecycle.models import client
    from mlplatform.tracking.model_registry import ALIAS_CHAMPION, TAG_CODE_VERSION, TAG_ENV_ID, TAG_TRAINING_SET

    mlflow_client = client(settings)
    experiment = mlflow_client.create_experiment("bench-catalog")
    mlflow_client.create_registered_model(MODEL)
    for v in range(1, versions + 1):
        run = mlflow_client.create_run(experiment)
        now = int(time.time() * 1000)
        metrics = [Metric(f"holdout.{m}", 0.5 + (v % 50) / 100, now, 0) for m in ("roc_auc", "pr_auc", "log_loss")]
        mlflow_client.log_batch(run.info.run_id, metrics=metrics)
        tags = {TAG_ENV_ID: ENV_ID, TAG_TRAINING_SET: f"ts:churn@v{v % 10}", TAG_CODE_VERSION: f"code:git:{v:012x}"}
        mlflow_client.create_model_version(MODEL, f"runs:/{run.info.run_id}/model", run.info.run_id, tags=tags)
    mlflow_client.set_registered_model_alias(MODEL, ALIAS_CHAMPION, str(versions))


def _rows(n: int, start: int, versions: int, edges: bool) -> list[dict[str, Any]]:
    """Lineage edges (training set, environment and code of model versions) or edge-less audit rows."""
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    out = []
    for i in range(start, start + n):
        v = i // 3 % versions + 1
        if edges:
            ups = [(f"ts:churn@v{v % 10}", "training_set"), (ENV_ID, "environment"), (f"code:git:{v:012x}", "code")]
            from_id, relation = ups[i % 3]
            to_id, action = f"model:{MODEL}@{v}", "register"
        else:
            from_id = to_id = f"scores:{MODEL}@v{i}"
            relation, action = "audit", "score"
        when = at + timedelta(seconds=i)
        row = {"from_id": from_id, "relation": relation, "to_id": to_id, "action": action}
        out.append({**row, "job_run": f"bench-{i}", "actor": "bench", "at": when, "details": json.dumps({"i": i})})
    return out


def _record(settings: Any, edges: int, audit_rows: int, versions: int) -> None:
    from mlplatform.lineage import chain
    from mlplatform.lineage.edges import COLUMNS, lineage_table

    uri = lineage_table(settings)
    for start in range(0, edges, BATCH):
        chain.append(uri, _rows(min(BATCH, edges - start), start, versions, True), COLUMNS, {"job": "bench-fill"})
    for start in range(0, audit_rows, BATCH):
        rows = _rows(min(BATCH, audit_rows - start), start, versions, False)
        chain.append(uri, rows, COLUMNS, {"job": "bench-fill"})


def _wait(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            urllib.request.urlopen(url, timeout=10).close()
            return
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"{url} did not answer: {proc.communicate()[0][-2000:]}")
            time.sleep(0.5)


def _time(url: str, n: int) -> dict[str, float]:
    """p50/p95 in ms of ``n`` GETs of ``url`` after two warm-up ones."""
    for _ in range(2):
        urllib.request.urlopen(url, timeout=300).read()
    took = []
    for _ in range(n):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=300) as answer:
            answer.read()
            assert answer.status == 200, url
        took.append((time.perf_counter() - start) * 1000)
    took.sort()
    return {"p50_ms": statistics.median(took), "p95_ms": took[max(0, round(0.95 * len(took)) - 1)]}


def _serve(command: list[str], env: dict[str, str], probe: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait(probe, proc)
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--edges", type=int, default=10_000)
    parser.add_argument("--audit-rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page (after two warm-up ones)")
    parser.add_argument("--home", type=Path, help="platform home for the run (default: a temporary one, removed)")
    benchlib.add_arguments(parser, __file__)
    args = parser.parse_args(argv)

    watch = benchlib.LoadWatch.from_args(args).start()
    root = args.home or Path(tempfile.mkdtemp(prefix="mlp-bench-catalog-"))
    home = root / ".mlp"
    home.mkdir(parents=True, exist_ok=True)
    store = f"sqlite:///{home}/mlflow.db"
    env = {**os.environ, "MLP_HOME": str(home), "MLP_PROJECT": str(REPO), "MLFLOW_TRACKING_URI": store}
    os.environ.update(env)
    from mlplatform.config import load_settings
    from mlplatform.identity import acting_for
    from mlplatform.lifecycle.approvals import request_promotion

    hw = benchlib.hardware(("mlflow", "deltalake", "jinja2"))
    print(f"hardware: {benchlib.hardware_line(hw)}; load average at start {watch.max_load:.1f}", flush=True)
    settings = load_settings()
    ours: dict[str, dict[str, float]] = {}
    theirs: dict[str, dict[str, float]] = {}
    try:
        started = time.perf_counter()
        _register(settings, args.versions)
        registered_s = time.perf_counter() - started
        _record(settings, args.edges, args.audit_rows, args.versions)
        with acting_for("bench-requester"):
            request_promotion(MODEL, args.versions - 1, settings, reason="bench: a pending request")
        print(f"populated in {time.perf_counter() - started:.0f} s (registry {registered_s:.0f} s)", flush=True)

        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        catalog = _serve([MLP, "ui", "--port", str(port)], env, base + "/static/catalog.css")
        pages = {
            "home (every record)": "/",
            "search": "/?q=churn",
            "model page": f"/models/{MODEL}",
            "version diff": f"/models/{MODEL}/diff?a=1&b={args.versions}",
            "lineage of a version": "/lineage?" + urlencode({"id": f"model:{MODEL}@{args.versions}"}),
            "environment": "/env?" + urlencode({"id": ENV_ID}),
            "audit (all, page 1)": "/audit",
            "audit of a model": f"/audit?model={MODEL}&action=register",
            "requests": "/requests",
        }
        try:
            for name, path in pages.items():
                ours[name] = _time(base + path, args.requests)
                print(f"catalog {name}: p50 {ours[name]['p50_ms']:.0f} ms", flush=True)
        finally:
            _stop(catalog)

        mport = _free_port()
        mbase = f"http://127.0.0.1:{mport}"
        mlflow_ui = [str(Path(sys.executable).with_name("mlflow")), "ui", "--backend-store-uri", store]
        mlflow_proc = _serve([*mlflow_ui, "--host", "127.0.0.1", "--port", str(mport)], env, mbase + "/health")
        calls = {
            "registered-models/get": f"/ajax-api/2.0/mlflow/registered-models/get?name={MODEL}",
            "model-versions/search": "/ajax-api/2.0/mlflow/model-versions/search?"
            + urlencode({"filter": f"name='{MODEL}'", "max_results": 25, "order_by": "version_number DESC"}),
            "page shell": f"/#/models/{quote(MODEL)}",
        }
        try:
            for name, path in calls.items():
                theirs[name] = _time(mbase + path, args.requests)
                print(f"mlflow {name}: p50 {theirs[name]['p50_ms']:.0f} ms", flush=True)
        finally:
            _stop(mlflow_proc)
    finally:
        if args.home is None:
            shutil.rmtree(root, ignore_errors=True)
    watch.stop()

    mlflow_model_page = {k: sum(theirs[c][k] for c in calls) for k in ("p50_ms", "p95_ms")}
    scale = f"{args.versions:,} versions, {args.edges:,} edges, {args.audit_rows:,} audit rows"
    print(f"\n{scale}; {args.requests} warm requests per page\n")
    header = f"{'page':<26} {'p50 ms':>8} {'p95 ms':>8}  < {TARGET_MS:.0f} ms"
    print(header)
    print("-" * len(header))
    for name, took in ours.items():
        met = "yes" if took["p95_ms"] < TARGET_MS else "NO"
        print(f"{name:<26} {took['p50_ms']:8.0f} {took['p95_ms']:8.0f}  {met}")
    for name, took in theirs.items():
        print(f"{'mlflow ' + name:<26} {took['p50_ms']:8.0f} {took['p95_ms']:8.0f}")
    print(f"{'mlflow model page (sum)':<26} {mlflow_model_page['p50_ms']:8.0f} {mlflow_model_page['p95_ms']:8.0f}")
    ratio = watch.ratio(ours["model page"]["p50_ms"], mlflow_model_page["p50_ms"])
    print(f"\nour model page / MLflow's model page (p50): {watch.show(ratio)}")
    print(watch.summary())
    payload = {
        "versions": args.versions,
        "edges": args.edges,
        "audit_rows": args.audit_rows,
        "requests": args.requests,
        "catalog_ms": ours,
        "mlflow_ms": theirs,
        "mlflow_model_page_ms": mlflow_model_page,
        "model_page_ratio": ratio,
        "all_under_target": all(t["p95_ms"] < TARGET_MS for t in ours.values()),
    }
    benchlib.write_json(args.json, payload, watch, hw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
