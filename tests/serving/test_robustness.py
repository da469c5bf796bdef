"""Fuzzed bodies and a bounded load on loopback: only 4xx for garbage, no 5xx, no worker deaths, bounded memory."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor

from conftest import MAX_BODY
from serving_support import request, rss_bytes, workers

FUZZ_REQUESTS = 300
LOAD_REQUESTS = 1200
LOAD_THREADS = 8
RSS_GROWTH_BOUND = 40 * 1024 * 1024  # after warm-up, across all worker processes


def random_json(rng: random.Random, depth: int = 0):
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([rng.randint(-(2**70), 2**70), rng.random() * 1e308, float("inf"), -0.0, 0])
    if kind == 3:
        return "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(8)))
    if kind == 4:
        return rng.choice(["amount", "visits", "city", "member", "dataframe_split", "columns", "data"])
    if kind == 5:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(5))]
    keys = [
        "dataframe_split",
        "dataframe_records",
        "instances",
        "inputs",
        "columns",
        "data",
        "amount",
        "visits",
        "city",
        "member",
        "params",
    ]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def fuzz_bodies(rng: random.Random):
    fmt = ["dataframe_split", "dataframe_records", "instances", "inputs"]
    for _ in range(FUZZ_REQUESTS // 3):
        yield (
            bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))),
            rng.choice(["application/json", "text/csv"]),
        )
        yield json.dumps({rng.choice(fmt): random_json(rng)}, allow_nan=True).encode(), "application/json"
        yield json.dumps(random_json(rng)).encode(), rng.choice(["application/json", "text/csv"])
    depth = 200_000
    yield b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}", "application/json"
    yield b'{"inputs": ' + b'{"a":' * depth + b"1" + b"}" * depth + b"}", "application/json"
    yield b'{"inputs": {"amount": [' + b"1," * (MAX_BODY // 2 - 20) + b"1]}}", "application/json"
    yield b'{"inputs": {"amount": [' + b"1," * MAX_BODY + b"1]}}", "application/json"
    yield b"amount,visits,city,member\n" + b"1,2,x,true\n" * (MAX_BODY // 11 - 5) + b"1,2,x,maybe\n", "text/csv"
    yield b'{"dataframe_split": {"columns": ["amount"], "data": ' + b"[[1]," * 100_000 + b"[1]]}}", "application/json"


def test_fuzzed_bodies_get_only_4xx_and_no_worker_dies(server, store):
    before = workers(server.pid)
    rng = random.Random(20240501)
    statuses = {}
    for body, content_type in fuzz_bodies(rng):
        status, answer = request(server.port, "/invocations", body, content_type=content_type)
        statuses[status] = statuses.get(status, 0) + 1
        assert 400 <= status < 500, (status, answer, body[:200])
        assert isinstance(answer, dict) and answer.get("message"), answer
    assert request(server.port, "/ping")[0] == 200
    assert workers(server.pid) == before, "a worker died and was replaced"
    assert statuses.get(413, 0) >= 1, statuses
    assert sum(statuses.values()) >= FUZZ_REQUESTS


def test_bounded_load_has_no_5xx_and_bounded_memory(server, store):
    one = json.dumps({"dataframe_records": json.loads(store.frame.head(1).to_json(orient="records"))})
    hundred = json.dumps({"dataframe_split": json.loads(store.frame.head(100).to_json(orient="split", index=False))})
    expected_one = store.model.predict(store.frame.head(1)).tolist()
    expected_hundred = store.model.predict(store.frame.head(100)).tolist()

    def call(i: int) -> tuple[int, bool]:
        body, want = (hundred, expected_hundred) if i % 4 == 0 else (one, expected_one)
        if i % 50 == 7:
            return request(server.port, "/invocations", b'{"inputs": [', timeout=30)[0], True
        status, answer = request(server.port, "/invocations", body, timeout=30)
        return status, status == 200 and answer["predictions"] == want

    with ThreadPoolExecutor(LOAD_THREADS) as pool:
        list(pool.map(call, range(200)))  # warm-up: allocator pools, import caches
        before = rss_bytes(server.pid)
        results = list(pool.map(call, range(LOAD_REQUESTS)))
    after = rss_bytes(server.pid)
    statuses = [s for s, _ in results]
    assert not [s for s in statuses if s >= 500], "server errors under load"
    assert all(ok for _, ok in results), "wrong predictions under load"
    assert statuses.count(400) == len([i for i in range(LOAD_REQUESTS) if i % 50 == 7])
    assert after - before < RSS_GROWTH_BOUND, f"RSS grew by {(after - before) / 2**20:.1f} MiB"
