"""Lineage and audit through the real Delta lineage table, written by lineage.record."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from mlplatform.errors import LineageError
from mlplatform.lineage.audit import audit, parse_since
from mlplatform.lineage.edges import record
from mlplatform.lineage.graph import load_graph

from .conftest import churn_history

ENV = "env:churn@0123456789ab"
CODE = "code:git:abcdef123456"


@pytest.fixture
def recorded(settings):
    """The churn/fraud history recorded one job run at a time, plus a promotion audit row."""
    for action, edges, run in churn_history():
        record(settings, edges, action=action, job_run=run, details={"rows": 10})
    record(
        settings,
        [],
        action="promote",
        job_run="promote-1",
        details={"model": "churn", "version": 2, "previous": 1, "reason": "beats v1"},
        subject="model:churn@2",
    )
    return settings


def test_scores_lineage_reaches_env_training_set_feature_sets_and_code(recorded):
    walk = load_graph(recorded).walk("scores:churn@v3")
    up = walk.upstream_ids()
    assert {ENV, "ts:churn@v2", "fs:activity@v5", "fs:support@v2", CODE, "model:churn@2"} <= up
    # every edge keeps who wrote it, in which run and when
    edge = next(e for e in walk.upstream if e.from_id == "ts:churn@v2")
    assert (
        (edge.action, edge.job_run, edge.details) == ("register", "mlflow-run-2", {"rows": 10})
        and edge.actor
        and edge.at is not None
    )


def test_feature_set_lineage_reaches_every_model_and_score_that_used_it(recorded):
    down = load_graph(recorded).walk("fs:support@v2").downstream_ids()
    assert {i for i in down if i.split(":")[0] in ("model", "scores")} == {
        "model:churn@1",
        "model:churn@2",
        "scores:churn@v1",
        "scores:churn@v2",
        "scores:churn@v3",
    }


def test_audit_lists_each_job_run_once_with_filters(recorded):
    events = audit(recorded)
    assert [e.action for e in events] == [a for a, _, _ in churn_history()] + ["promote"]
    assert events[0].subjects == ("ts:churn@v1",) and set(events[0].inputs) == {
        "fs:activity@v3",
        "fs:support@v2",
        "table:labels@v4",
    }
    about_churn = audit(recorded, model="churn")
    assert {e.job_run for e in about_churn} == {
        "mlflow-run-1",
        "score-run-1",
        "score-run-2",
        "mlflow-run-2",
        "score-run-3",
        "promote-1",
    }
    (promotion,) = audit(recorded, action="promote")
    assert promotion.subjects == ("model:churn@2",) and promotion.details["reason"] == "beats v1"
    assert [e.job_run for e in audit(recorded, artifact="fs:activity@v5")] == ["score-run-2", "ts-run-2", "score-run-3"]
    assert audit(recorded, since="1h") == events
    assert audit(recorded, since=datetime.now(timezone.utc) + timedelta(minutes=1)) == []
    assert [e.job_run for e in audit(recorded, limit=2)] == ["mlflow-run-3", "promote-1"]


def test_since_parsing():
    now = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
    assert parse_since("7d", now) == datetime(2026, 4, 24, 12, tzinfo=timezone.utc)
    assert parse_since("2026-04-30") == datetime(2026, 4, 30, tzinfo=timezone.utc)
    with pytest.raises(LineageError, match="neither a duration nor a date"):
        parse_since("last week")


def test_empty_lineage_table_gives_empty_audit(settings):
    assert audit(settings) == []


def test_cli_tree_picture_unknown_id_and_audit(recorded, mlp, tmp_path):
    done = mlp(["lineage", "scores:churn@latest"])
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.startswith("scores:churn@v3") and "training_set: ts:churn@v2" in done.stdout and CODE in done.stdout
    )

    page = tmp_path / "lineage.html"
    done = mlp(["lineage", "fs:support@v2", "--format", "html", "-o", str(page)])
    assert done.returncode == 0, done.stderr
    assert "scores:churn@v3" in page.read_text() and str(page) in done.stdout

    done = mlp(["lineage", "scores:churn@v9"])
    assert done.returncode == 3
    assert "scores:churn@v9 does not appear in the lineage table" in done.stderr and "scores:churn@v3" in done.stderr

    done = mlp(["audit", "--model", "churn", "--json"])
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["action"] for r in rows][-1] == "promote" and len(rows) == 6
