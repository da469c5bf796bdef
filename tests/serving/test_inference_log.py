"""The inference log: a real gunicorn server's spool, ``mlp monitor ingest`` exactly once, online drift."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pytest
from conftest import MLP, Server
from serving_support import free_port, make_frame, request, start, stop, workers
from wsgi_client import post

from mlplatform.errors import ModelError, MonitoringError

BATCH_A = (3, 5, 2, 6)
BATCH_B = (4, 1)


def _serve(store, root: Path, env: dict[str, str]) -> tuple[subprocess.Popen[Any], Server]:
    port = free_port()
    argv = [MLP, "serve", store.ref, "--port", str(port), "--workers", "2", "--python", sys.executable]
    proc = start(argv, None, {**store.env, **env}, port, root / "server.log")
    assert len(workers(proc.pid, expect=2)) == 2
    return proc, Server(port, proc.pid, root / "server.log")


@pytest.fixture(scope="module")
def logged(store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """A server keeping every request (MLP_LOG_SAMPLE=1), rotating its spool files after 0.3 s."""
    root = tmp_path_factory.mktemp("inference")
    spool = root / "spool"
    env = {"MLP_LOG_SAMPLE": "1", "MLP_LOG_DIR": str(spool), "MLP_LOG_ROTATE_SECONDS": "0.3"}
    proc, server = _serve(store, root, env)
    try:
        yield server, spool
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def settings(store) -> Iterator[Any]:
    """The store's settings, with the model version's reference profile stored (built from its training rows)."""
    from mlplatform.config import load_settings
    from mlplatform.monitoring import build_profile
    from mlplatform.monitoring.store import write_profile

    with pytest.MonkeyPatch.context() as mp:
        for key, value in store.env.items():
            mp.setenv(key, value)
        settings = load_settings()
        training = make_frame(400)  # the rows the session's model was fitted on
        profile = build_profile(training, store.model.predict(training), model=store.name, version=store.version)
        write_profile(settings, profile)
        yield settings


def _send(server: Server, frame: pd.DataFrame, sizes: tuple[int, ...], prefix: str) -> list[pd.DataFrame]:
    sent, start_row = [], 0
    for i, n in enumerate(sizes):
        rows = frame.iloc[start_row : start_row + n].reset_index(drop=True)
        start_row += n
        body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))})
        status, answer = request(server.port, "/invocations", body, headers={"X-Request-Id": f"{prefix}{i}"})
        assert status == 200, answer
        sent.append(rows)
    return sent


def _settle(spool: Path, requests: int, timeout: float = 20) -> None:
    """Wait until every spool file is rotated and they hold ``requests`` records."""
    deadline = time.monotonic() + timeout
    while True:
        closed = sum(len(p.read_text().splitlines()) for p in spool.glob("*.jsonl"))
        if closed == requests and not list(spool.glob("*.jsonl.open")):
            return
        assert time.monotonic() < deadline, f"{closed} of {requests} requests in closed spool files"
        time.sleep(0.1)


def _cli_ingest(store, spool: Path) -> dict[str, Any]:
    done = subprocess.run(
        [MLP, "monitor", "ingest", store.name, "--from", str(spool), "--json"],
        env={**os.environ, **store.env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_ingest_appends_each_request_once_and_measures_online_drift(logged, settings, store):
    from mlplatform.monitoring import compare, model_thresholds
    from mlplatform.monitoring.inference import features_of, ingest, read_inference
    from mlplatform.monitoring.store import read_drift, read_profile

    server, spool = logged
    first = _send(server, store.frame, BATCH_A, "a")
    _settle(spool, len(BATCH_A))
    result = _cli_ingest(store, spool)
    assert (result["requests"], result["rows"]) == (len(BATCH_A), sum(BATCH_A))
    again = ingest(settings, store.name, spool)
    assert (again.rows, sorted(again.skipped)) == (0, sorted(result["files"]))

    later = _send(server, store.frame.iloc[sum(BATCH_A) :], BATCH_B, "b")
    _settle(spool, len(BATCH_A) + len(BATCH_B))
    second = ingest(settings, store.name, spool)
    assert (second.requests, second.rows) == (len(BATCH_B), sum(BATCH_B))

    rows = read_inference(settings, store.name).sort_values(["request_id", "row"]).reset_index(drop=True)
    assert len(rows) == sum(BATCH_A) + sum(BATCH_B)  # every row once
    sent = pd.concat(first + later, ignore_index=True)
    features, predictions = features_of(rows)
    pd.testing.assert_frame_equal(features[sent.columns.tolist()], sent, check_dtype=False)
    assert predictions.tolist() == store.model.predict(sent).tolist()
    assert set(rows["model_version"]) == {store.version}
    ids = [f"{p}{i}" for p, sizes in (("a", BATCH_A), ("b", BATCH_B)) for i, n in enumerate(sizes) for _ in range(n)]
    assert rows["request_id"].tolist() == ids

    # online drift of today equals compare() run independently on the rows that were sent
    day = datetime.now(timezone.utc).date().isoformat()
    assert list(second.drift) == [f"{store.version}/{day}"]
    stored = read_drift(settings, store.name, run_date=day, source="online").set_index("feature")
    expected = compare(
        read_profile(settings, store.name, store.version),
        sent,
        pd.Series(store.model.predict(sent)),
        None,
        thresholds=model_thresholds(store.name),
    )
    assert set(stored["source"]) == {"online"}
    assert read_drift(settings, store.name, run_date=day).empty  # no batch run that day
    for column in expected.columns:
        got = stored.loc[column.feature]
        assert got["status"] == column.status
        assert got["rows"] == column.rows
        for measure in ("psi", "js", "null_rate"):
            assert got[measure] == pytest.approx(getattr(column, measure), abs=1e-12, nan_ok=True)


def test_unwritable_spool_never_fails_a_request_and_is_counted(store, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    (tmp_path / "a-file").write_text("not a folder")
    proc, server = _serve(store, tmp_path, {"MLP_LOG_SAMPLE": "1", "MLP_LOG_DIR": str(tmp_path / "a-file" / "spool")})
    try:
        _send(server, store.frame, (2, 2, 2), "x")

        def errors() -> float:
            text = request(server.port, "/metrics")[1]
            return sum(
                s.value
                for f in text_string_to_metric_families(text)
                for s in f.samples
                if s.name == "mlp_inference_log_errors_total" and s.labels.get("reason") == "write"
            )

        deadline = time.monotonic() + 20
        while errors() != 3:
            assert time.monotonic() < deadline, errors()
            time.sleep(0.1)
    finally:
        stop(proc)


def test_sample_zero_writes_nothing(context, store, tmp_path, monkeypatch):
    from mlplatform.scoring.server import create_app

    monkeypatch.setenv("MLP_LOG_SAMPLE", "0")
    monkeypatch.setenv("MLP_LOG_DIR", str(tmp_path / "spool"))
    app = create_app(context)
    body = json.dumps({"dataframe_records": store.frame.head(3).to_dict(orient="records")}).encode()
    status, _ = post(app, body)
    assert status == "200 OK" and app.spool is None
    assert not (tmp_path / "spool").exists()


def test_bad_ingests_are_one_line_errors(logged, settings, store, tmp_path):
    from mlplatform.monitoring.inference import ingest

    server, spool = logged
    _send(server, store.frame, (1,), "c")
    deadline = time.monotonic() + 20
    while not (files := sorted(spool.glob("*.jsonl"))):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    record = json.loads(files[-1].read_text().splitlines()[0])

    with pytest.raises(MonitoringError, match="spool folder .* does not exist") as missing:
        ingest(settings, store.name, tmp_path / "missing")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.jsonl").write_text(json.dumps(record) + "\n")
    with pytest.raises(MonitoringError, match=f"holds requests of model '{store.name}', not 'churn_other'") as other:
        ingest(settings, "churn_other", tmp_path / "other")
    (tmp_path / "unknown").mkdir()
    (tmp_path / "unknown" / "y.jsonl").write_text(json.dumps({**record, "model": "no_such_model"}) + "\n")
    with pytest.raises(ModelError, match="no_such_model") as unknown:
        ingest(settings, "no_such_model", tmp_path / "unknown")
    for err in (missing, other, unknown):
        assert "\n" not in str(err.value)

    done = subprocess.run(
        [MLP, "monitor", "ingest", store.name, "--from", str(tmp_path / "missing")],
        env={**os.environ, **store.env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
