"""The catalog's pages, through the WSGI app in process, against a populated home."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from .conftest import ENV_ID


def get(app: Any, path: str, query: dict[str, str] | None = None) -> tuple[int, str]:
    """GET ``path`` from the WSGI ``app``: (status code, body)."""
    seen: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"] = status

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": urlencode(query or {})}
    body = b"".join(app(environ, start_response)).decode()
    return int(seen["status"].split()[0]), body


def data(app: Any, path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    status, body = get(app, path + ".json", query)
    assert status == 200, body
    return json.loads(body)


def test_every_page_of_a_populated_home(catalog_home: Any) -> None:
    from mlplatform.catalog.app import make_app

    app = make_app(catalog_home)
    everything = data(app, "/")
    kinds = {(h["kind"], h["id"]) for h in everything["page"]["items"]}
    assert {("feature set", "fs:customer_profile"), ("training set", "ts:churn"), ("model", "model:churn")} <= kinds
    assert ("scores", "scores:churn") in kinds and ("environment", "env:sklearn") in kinds

    fs = data(app, "/fs/customer_profile")
    assert fs["definition"]["owner"] and fs["columns"] and fs["history"][0]["operation"]
    assert fs["newest_event"] and fs["age"].endswith("ago")
    models = ["model:churn@1", "model:churn@2"]
    assert fs["impact"] == {"ts": ["ts:churn@v0"], "model": models, "scores": ["scores:churn@v0"]}

    ts = data(app, "/ts/churn", {"version": "0"})
    assert ts["manifest"]["features"]["customer_profile"]["id"] == fs["id"]
    assert ts["rebuild"] == "mlp trainset rebuild churn --version 0" and ts["impact"]["model"]

    model = data(app, "/models/churn")
    assert model["found"]["summary"]["champion"] == 1 and model["found"]["champion_history"] == [1]
    assert [v["version"] for v in model["versions"]] == [2, 1] and model["versions"][1]["env_id"] == ENV_ID
    assert model["thresholds"][0]["metric"] == "roc_auc" and model["performance"][0]["status"] == "ok"

    diff = data(app, "/models/churn/diff", {"a": "1", "b": "2"})
    differs = {(r["section"], r["key"]) for r in diff["rows"] if r["differs"]}
    assert {("parameters", "C"), ("metrics", "roc_auc"), ("links", "aliases")} <= differs
    assert ("links", "training set") not in differs and ("feature sets", "customer_profile") in {
        (r["section"], r["key"]) for r in diff["rows"]
    }

    env = data(app, "/env", {"id": ENV_ID})
    assert env["used_by"] == ["model:churn@1", "model:churn@2"] and "scikit-learn" in env["spec"]

    scores = data(app, "/scores/churn")
    assert scores["runs"][0]["rows"] == 3 and scores["table"]["id"] == "scores:churn@v0"

    lineage = data(app, "/lineage", {"id": "model:churn@1"})
    assert "ts:churn@v0" in {e["from_id"] for e in lineage["walk"]["upstream"]}
    assert lineage["svg"].lstrip().startswith("<svg")

    audit = data(app, "/audit", {"model": "churn", "action": "promote"})
    assert [e["subjects"] for e in audit["page"]["items"]] == [["model:churn@1"]]
    assert audit["chain"]["ok"] and audit["chain"]["lines"][-1].strip() == "chain intact"

    for path, query in [
        ("/", {"q": "churn"}),
        ("/fs/customer_profile", {}),
        ("/ts/churn", {}),
        ("/models/churn", {}),
        ("/models/churn/diff", {"a": "2", "b": "1"}),
        ("/env", {"id": ENV_ID}),
        ("/scores/churn", {}),
        ("/lineage", {"id": "fs:customer_profile@latest"}),
        ("/audit", {"since": "7d"}),
    ]:
        status, body = get(app, path, query)
        assert status == 200 and body.startswith("<!doctype html>"), (path, body[-500:])


def test_unknown_ids_are_404_and_bad_queries_400(settings: Any) -> None:
    from mlplatform.catalog.app import make_app

    app = make_app(settings)
    for path, query in [
        ("/fs/nope", {}),
        ("/ts/nope", {}),
        ("/models/nope", {}),
        ("/scores/nope", {}),
        ("/env", {"id": "env:nope"}),
        ("/lineage", {"id": "fs:nope@v1"}),
        ("/nowhere", {}),
    ]:
        status, body = get(app, path, query)
        assert status == 404, (path, body)
        assert "nope" in body or "nowhere" in body
        assert 'href="/?q=' in body  # a search link
    for path, query in [
        ("/", {"page": "abc"}),
        ("/", {"page": "9"}),
        ("/audit", {"since": "last tuesday"}),
        ("/models/nope/diff", {"a": "1"}),
        ("/lineage", {"id": "<script>alert(1)</script>"}),
        ("/lineage", {}),
        ("/env", {"id": "../../etc/passwd"}),
        ("/ts/churn", {"version": "-1"}),
    ]:
        status, body = get(app, path, query)
        assert status == 400, (path, query, body)
        assert "<script>alert" not in body  # escaped
    for path in ["/static/../../pyproject.toml", "/static/nope.css", "/fs/%00", "/models/churn/diff/x"]:
        assert 400 <= get(app, path)[0] < 500, path


def test_lists_paginate_server_side() -> None:
    from mlplatform.catalog.paging import BadQuery, paginate

    items = list(range(120))
    first = paginate(items, {"q": "x"}, "/")
    assert (first.items[0], len(first.items), first.pages, first.prev_url) == (0, 50, 3, None)
    assert first.next_url == "/?q=x&page=2"
    last = paginate(items, {"q": "x", "page": "3"}, "/")
    assert (list(last.items), last.next_url, last.prev_url) == (list(range(100, 120)), None, "/?q=x&page=2")
    assert paginate([], {}, "/audit").pages == 1
    for bad in ("0x", "4", "-1"):
        with pytest.raises(BadQuery, match="page"):
            paginate(items, {"page": bad}, "/")
