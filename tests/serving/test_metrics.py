"""``GET /metrics`` of a real gunicorn server with two workers, parsed with prometheus_client's parser."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest
from conftest import MLP, Server
from prometheus_client.parser import text_string_to_metric_families
from serving_support import free_port, request, start, stop, workers

GOOD_SIZES = (1, 3, 5, 7, 2, 4, 6, 8)
BAD_REQUESTS = 4


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics: (sample name, labels) -> value."""
    status, text = request(port, "/metrics")
    assert status == 200, text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and wanted <= got)


def eventually(check: Callable[[], bool], timeout: float = 20) -> None:
    """Wait until ``check()`` holds (workers flush every 0.25 s); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def metrics_server(store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """``mlp serve`` with two workers and its metrics folder given (so the test can see the files)."""
    port = free_port()
    root = tmp_path_factory.mktemp("metrics")
    folder = root / "shared"
    folder.mkdir()
    (folder / "worker-1-stale.json").write_text("{}")  # a previous run's file: emptied at start
    argv = [MLP, "serve", store.ref, "--port", str(port), "--workers", "2", "--python", sys.executable]
    env = {**store.env, "MLP_METRICS_DIR": str(folder)}
    proc = start(argv, None, env, port, root / "server.log")
    try:
        assert len(workers(proc.pid, expect=2)) == 2
        yield Server(port, proc.pid, root / "server.log"), folder
    finally:
        stop(proc)


def _on_disk(folder: Path, endpoint: str = "/invocations") -> float:
    """Requests of ``endpoint`` counted in the workers' files (read as plain JSON)."""
    total = 0.0
    for path in folder.glob("worker-*.json"):
        for key, count in json.loads(path.read_text()).get("counters", {}).get("mlp_requests", []):
            if ["endpoint", endpoint] in key:
                total += count
    return total


def test_metrics_count_every_request_over_workers_and_survive_a_killed_worker(metrics_server, store):
    server, folder = metrics_server
    assert not (folder / "worker-1-stale.json").exists()
    frame = store.frame
    bodies = [frame.head(n).to_json(orient="split", index=False) for n in GOOD_SIZES]
    bodies = [json.dumps({"dataframe_split": json.loads(b)}) for b in bodies]
    bodies += [json.dumps({"dataframe_records": [{"amount": 1.0}]})] * BAD_REQUESTS  # missing columns: 400
    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda b: request(server.port, "/invocations", b)[0], bodies))
    assert statuses == [200] * len(GOOD_SIZES) + [400] * BAD_REQUESTS
    request(server.port, "/nowhere")
    sent = len(bodies)
    labels = {"model": store.name, "version": str(store.version)}

    # A scrape sums the serving worker's live totals and the other worker's file, flushed every 0.25 s:
    # until both files hold every request, a scrape served by the other worker may lag by one flush.
    eventually(lambda: _on_disk(folder) == sent and _on_disk(folder, "other") == 1)
    samples = scrape(server.port)
    assert value(samples, "mlp_requests_total", endpoint="/invocations", status="200", **labels) == len(GOOD_SIZES)
    assert value(samples, "mlp_requests_total", endpoint="/invocations", status="400", **labels) == BAD_REQUESTS
    assert value(samples, "mlp_requests_total", endpoint="other", status="404") == 1
    assert value(samples, "mlp_rows_scored_total", **labels) == sum(GOOD_SIZES)
    assert value(samples, "mlp_model_info", env_id=store.env_id, **labels) == 1
    # the prediction histogram against numpy on the same rows (each request scores the first n rows)
    predicted = np.concatenate([store.model.predict(frame.head(n)) for n in GOOD_SIZES]).astype(float)
    assert value(samples, "mlp_prediction_count", **labels) == len(predicted)
    assert value(samples, "mlp_prediction_sum", **labels) == pytest.approx(predicted.sum())
    for le in ("0.0", "0.5", "1.0", "+Inf"):
        assert value(samples, "mlp_prediction_bucket", le=le, **labels) == np.sum(predicted <= float(le))
    buckets = value(samples, "mlp_request_duration_seconds_bucket", endpoint="/invocations", le="+Inf", **labels)
    assert buckets == sent

    # SIGKILL a worker that served requests once its counts are on disk: gunicorn replaces it, nothing is lost
    eventually(lambda: _on_disk(folder) == sent)
    before = workers(server.pid)
    served = {int(p.name.split("-")[1]) for p in folder.glob("worker-*.json") if _on_disk_file(p)}
    victim = sorted(served & set(before))[0]
    os.kill(victim, signal.SIGKILL)
    eventually(lambda: len(workers(server.pid)) == 2 and victim not in workers(server.pid))
    after = scrape(server.port)
    assert value(after, "mlp_requests_total", endpoint="/invocations", status="200", **labels) == len(GOOD_SIZES)
    assert value(after, "mlp_rows_scored_total", **labels) == sum(GOOD_SIZES)
    for _ in range(3):
        assert request(server.port, "/invocations", bodies[0])[0] == 200
    eventually(
        lambda: (
            value(scrape(server.port), "mlp_requests_total", endpoint="/invocations", status="200", **labels)
            == len(GOOD_SIZES) + 3
        )
    )


def _on_disk_file(path: Path) -> bool:
    return any(
        ["endpoint", "/invocations"] in key
        for key, _ in json.loads(path.read_text()).get("counters", {}).get("mlp_requests", [])
    )
