"""The scoring server as a real process (``mlp serve``) on 127.0.0.1: endpoints, formats, errors."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
from conftest import MAX_BODY
from serving_support import request

from mlplatform.scoring.server import DRAIN_FACTOR


def expected(store, rows=None) -> list[int]:
    frame = store.frame if rows is None else store.frame.iloc[rows]
    return store.model.predict(frame).tolist()


def test_ping_health_and_version(server, store):
    assert request(server.port, "/ping") == (200, {"status": "ok"})
    assert request(server.port, "/health") == (200, {"status": "ok"})
    status, body = request(server.port, "/version")
    assert status == 200
    assert (
        body["model_name"] == store.name and body["model_version"] == store.version and body["env_id"] == store.env_id
    )


def payloads(frame):
    records = json.loads(frame.to_json(orient="records"))
    return {
        "dataframe_split": {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "inputs-columns": {"inputs": {c: json.loads(frame[c].to_json(orient="values")) for c in frame.columns}},
        "inputs-records": {"inputs": records},
    }


@pytest.mark.parametrize(
    "fmt", ["dataframe_split", "dataframe_records", "instances", "inputs-columns", "inputs-records"]
)
def test_every_json_format_predicts_like_the_local_model(server, store, fmt):
    status, body = request(server.port, "/invocations", json.dumps(payloads(store.frame)[fmt]))
    assert status == 200, body
    assert body == {"predictions": expected(store)}


def test_csv_predicts_like_the_local_model(server, store):
    status, body = request(server.port, "/invocations", store.frame.to_csv(index=False), content_type="text/csv")
    assert status == 200, body
    assert body["predictions"] == expected(store)


def test_single_rows(server, store):
    for i in range(5):
        row = store.frame.iloc[[i]]
        status, body = request(server.port, "/invocations", json.dumps(payloads(row)["dataframe_records"]))
        assert status == 200 and body["predictions"] == expected(store, [i])


def test_mlflow_scoring_client_works_unchanged(server, store):
    """MLflow's own client (as used by ``mlflow models predict`` style tooling) and its serving example."""
    import mlflow
    from mlflow.models import convert_input_example_to_serving_input
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    client = ScoringServerClient("127.0.0.1", server.port)
    client.wait_server_ready(timeout=10)
    response = client.invoke(store.frame)
    assert np.asarray(response.get_predictions()).ravel().tolist() == expected(store)
    serving_input = convert_input_example_to_serving_input(store.frame.head(7))
    status, body = request(server.port, "/invocations", serving_input)
    assert status == 200 and body["predictions"] == expected(store, slice(0, 7))
    # The example MLflow saved with the model scores as MLflow's own validator scores it.
    model_uri = f"models:/{store.name}/{store.version}"
    mlflow.set_tracking_uri(f"sqlite:///{store.home}/mlflow.db")
    local = mlflow.artifacts.download_artifacts(f"{model_uri}/serving_input_example.json")
    example = open(local).read()
    status, body = request(server.port, "/invocations", example)
    assert status == 200
    assert body["predictions"] == np.asarray(mlflow.models.validate_serving_input(model_uri, example)).tolist()


@pytest.mark.parametrize(
    "body, content_type, status, words",
    [
        ('{"dataframe_records": [', "application/json", 400, ["not valid JSON"]),
        (
            '{"inputs": {"amount": ["x"], "visits": [1], "city": ["a"], "member": [true]}}',
            "application/json",
            400,
            ["'amount'", "double", "row 0"],
        ),
        (
            '{"inputs": {"amount": [1.0], "city": ["a"]}}',
            "application/json",
            400,
            ["missing required column(s): visits, member"],
        ),
        ('{"data": [[1]]}', "application/json", 400, ["exactly one of"]),
        ("[" * 50_000, "application/json", 400, ["JSON"]),
        ("amount,visits\n1,2\n", "text/csv", 400, ["missing required column(s): city, member"]),
        ("{}", "text/plain", 415, ["text/plain"]),
        ("", "application/json", 400, ["empty"]),
    ],
)
def test_bad_requests_get_a_json_error_saying_what_was_wrong(server, body, content_type, status, words):
    got_status, got = request(server.port, "/invocations", body.encode(), content_type=content_type)
    assert got_status == status, got
    assert set(got) == {"error_code", "message"}
    for word in words:
        assert word in got["message"], got["message"]


def test_oversized_body_is_refused_with_an_answer_the_sender_can_read(server):
    # The server throws a body up to DRAIN_FACTOR times the limit away instead of closing on
    # a client still sending it, which would see a broken pipe instead of the 413.
    for size in (MAX_BODY + 1, 2 * MAX_BODY, DRAIN_FACTOR * MAX_BODY) * 5:
        status, body = request(server.port, "/invocations", b" " * size)
        assert status == 413 and str(MAX_BODY) in body["message"] and "MLP_MAX_BODY_BYTES" in body["message"]
    assert request(server.port, "/ping")[0] == 200


def test_far_oversized_declared_body_is_refused_without_waiting_for_it(server):
    # Content-Length far over the limit and no body sent: the answer comes at once, the
    # worker does not wait for bytes it would throw away.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {100 * MAX_BODY}\r\n\r\n".encode()
        )
        head = conn.recv(65536).decode(errors="replace")
    assert head.startswith("HTTP/1.1 413"), head


def test_wrong_method_and_unknown_path(server):
    assert request(server.port, "/invocations")[0] == 405
    status, body = request(server.port, "/predict", b"{}")
    assert status == 404 and "/invocations" in body["message"]
    assert request(server.port, "/ping", b"{}")[0] == 405


def test_server_still_serves_after_bad_requests(server, store):
    request(server.port, "/invocations", b"\x00\xff" * 100)
    status, body = request(server.port, "/invocations", json.dumps(payloads(store.frame.head(3))["inputs-records"]))
    assert status == 200 and body["predictions"] == expected(store, slice(0, 3))
