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


def test_feature_set_statistics_match_the_data(catalog_home: Any) -> None:
    """Null fractions and ranges on the page equal those pandas computes from the table's rows."""
    from mlplatform import features, tables
    from mlplatform.catalog.app import make_app
    from mlplatform.features.ingestion import feature_table

    page = data(make_app(catalog_home), "/fs/customer_profile")
    frame = tables.to_pandas(feature_table(catalog_home, "customer_profile"))
    assert (
        set(page["stats"]) == set(frame.columns)
        and page["id"] == features.describe("customer_profile", catalog_home)["id"]
    )
    for column, found in page["stats"].items():
        values = frame[column]
        assert found["rows"] == len(frame) and found["null_fraction"] == pytest.approx(values.isna().mean()), column
        if values.dtype.kind in "if" and values.notna().any():
            assert (found["min"], found["max"]) == pytest.approx((values.min(), values.max())), column


def test_the_latest_benchmark_shows_its_recorded_roc_plot_or_says_it_is_missing(
    catalog_home: Any, tmp_path: Any
) -> None:
    import base64

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from mlplatform import tables
    from mlplatform.catalog.app import make_app
    from mlplatform.lifecycle.benchmark import BENCHMARK_COLUMNS, benchmarks_table
    from mlplatform.lifecycle.models import client

    mlflow_client = client(catalog_home)
    experiment = mlflow_client.get_run(mlflow_client.get_model_version("churn", "1").run_id).info.experiment_id
    run_id = mlflow_client.create_run(experiment).info.run_id
    plot = tmp_path / "benchmark" / "roc.png"
    plot.parent.mkdir()
    plt.plot([0, 0.2, 1], [0, 0.8, 1])
    plt.savefig(plot)
    mlflow_client.log_artifacts(run_id, str(plot.parent), "benchmark")

    def bench(benchmark_id: str, run: str, at: str) -> dict[str, Any]:
        """A benchmarks-table row as lifecycle.benchmark writes one (the figures of this test's choosing)."""
        metrics = {"champion": {"roc_auc": 0.81}, "challenger": {"roc_auc": 0.84}}
        return {
            **{"benchmark_id": benchmark_id, "model": "churn", "run_date": at, "at": pd.Timestamp(at, tz="UTC")},
            **{"champion_version": 1, "challenger_version": 2, "holdout": "ts:churn@v0", "holdout_rows": 100},
            **{"primary_metric": "roc_auc", "higher_is_better": True, "margin": 0.0, "champion_primary": 0.81},
            **{"challenger_primary": 0.84, "decision": "promote", "reasons": "[]", "metrics": json.dumps(metrics)},
            **{"checks": "[]", "mlflow_run_id": run, "job_run": "bench-run"},
        }

    frame = pd.DataFrame([bench("benchmark:churn@a", run_id, "2024-06-01")], columns=BENCHMARK_COLUMNS)
    tables.write_pandas(
        frame.astype({"benchmark_id": "string", "mlflow_run_id": "string"}), benchmarks_table(catalog_home)
    )
    app = make_app(catalog_home)
    roc = data(app, "/models/churn")["roc"]
    assert roc["auc"] == {"champion": 0.81, "challenger": 0.84}
    assert base64.b64decode(roc["image"].removeprefix("data:image/png;base64,")) == plot.read_bytes()
    assert '<img class="roc" src="data:image/png;base64,' in get(app, "/models/churn")[1]

    later = pd.DataFrame([bench("benchmark:churn@b", "", "2024-07-01")], columns=BENCHMARK_COLUMNS)
    tables.write_pandas(later, benchmarks_table(catalog_home), mode="append")
    roc = data(app, "/models/churn")["roc"]
    assert roc["benchmark_id"] == "benchmark:churn@b" and roc["image"] is None
    assert "The ROC curve is not recorded for this benchmark" in get(app, "/models/churn")[1]


def test_a_version_link_opens_the_page_of_the_list_that_holds_it() -> None:
    from types import SimpleNamespace

    from mlplatform.catalog.app import _page_holding
    from mlplatform.catalog.links import url_for_id
    from mlplatform.catalog.paging import BadQuery

    versions = [SimpleNamespace(version=n) for n in range(120, 0, -1)]  # newest first, as the page lists them
    assert url_for_id("model:churn@7") == "/models/churn?v=7#v7"
    page = _page_holding(versions, {"v": "7"}, "/models/churn")
    assert page.number == 3 and 7 in [v.version for v in page.items]
    assert _page_holding(versions, {"v": "120"}, "/models/churn").number == 1
    assert _page_holding(versions, {"page": "2"}, "/models/churn").items[0].version == 70
    with pytest.raises(BadQuery, match="version 999"):
        _page_holding(versions, {"v": "999"}, "/models/churn")


def test_a_model_page_is_described_again_when_the_registry_moves_and_a_version_tag_shows_within_the_ttl(
    catalog_home: Any,
) -> None:
    from mlplatform.catalog.app import make_app
    from mlplatform.lifecycle.models import client, describe, promote

    app = make_app(catalog_home)
    first = data(app, "/models/churn")
    assert first["found"]["summary"]["champion"] == 1
    kept = app.registry.describe("churn")
    assert app.registry.describe("churn") is kept  # the registry has not moved: the description is reused

    promote("churn", 2, catalog_home, reason="the registry moves: an alias")
    moved = data(app, "/models/churn")
    assert moved["found"]["summary"]["champion"] == 2 == describe("churn", catalog_home).summary.champion
    assert "champion" in moved["versions"][0]["aliases"] and "champion" not in moved["versions"][1]["aliases"]

    # a version's tag moves no timestamp in MLflow's store: the kept page holds until its time is up
    client(catalog_home).set_model_version_tag("churn", "2", "note", "tagged later")
    assert "note" not in data(app, "/models/churn")["versions"][0]["tags"]
    app.registry.ttl_s = 0.0
    assert data(app, "/models/churn")["versions"][0]["tags"]["note"] == "tagged later"

    from mlplatform.errors import UnknownModelError

    with pytest.raises(UnknownModelError, match="no registered model named 'nope'"):
        app.registry.describe("nope")
