"""Walking the lineage graph (in memory; the table round trip is in test_recorded.py)."""

from __future__ import annotations

import pytest

from mlplatform.errors import UnknownIdError
from mlplatform.lineage.graph import LineageGraph, check_id

ENV = "env:churn@0123456789ab"
CODE = "code:git:abcdef123456"


def test_scores_version_reaches_everything_that_produced_it(history_rows):
    walk = LineageGraph.from_rows(history_rows).walk("scores:churn@v3")
    assert walk.upstream_ids() == {
        "model:churn@2",
        ENV,
        "fs:activity@v5",
        "ts:churn@v2",
        CODE,
        "fs:support@v2",
        "table:labels@v5",
    }
    assert walk.downstream == ()


def test_feature_set_version_reaches_every_model_and_score_that_used_it(history_rows):
    walk = LineageGraph.from_rows(history_rows).walk("fs:activity@v5")
    # used directly as scoring input by model 1 (scores v2) and through ts v2 by model 2 (scores v3)
    assert walk.downstream_ids() == {"ts:churn@v2", "model:churn@2", "scores:churn@v3", "scores:churn@v2"}
    walk = LineageGraph.from_rows(history_rows).walk("fs:support@v2")
    assert {i for i in walk.downstream_ids() if i.startswith(("model:", "scores:"))} == {
        "model:churn@1",
        "model:churn@2",
        "scores:churn@v1",
        "scores:churn@v2",
        "scores:churn@v3",
    }


def test_walk_stays_inside_the_connected_artifacts(history_rows):
    walk = LineageGraph.from_rows(history_rows).walk("model:fraud@1")
    assert set(walk.nodes) == {"model:fraud@1", "ts:fraud@v1", "fs:payments@v1", "env:fraud@ffffffffffff"}


def test_depth_limits_the_walk(history_rows):
    walk = LineageGraph.from_rows(history_rows).walk("scores:churn@v3", depth=1)
    assert walk.upstream_ids() == {"model:churn@2", ENV, "fs:activity@v5"}


def test_repeated_edges_count_once_and_audit_rows_are_not_edges():
    graph = LineageGraph.from_rows(
        [("ts:a@v1", "training_set", "model:a@1")] * 3 + [("model:a@1", "audit", "model:a@1")]
    )
    walk = graph.walk("model:a@1")
    assert len(walk.upstream) == 1 and walk.downstream == ()


def test_latest_picks_the_highest_recorded_version(history_rows):
    graph = LineageGraph.from_rows(history_rows)
    assert graph.latest("scores:churn@latest") == "scores:churn@v3"
    assert graph.latest("model:churn@latest") == "model:churn@2"
    assert graph.latest("fs:activity@v3") == "fs:activity@v3"


def test_unknown_id_names_the_id_and_suggests_recorded_versions(history_rows):
    graph = LineageGraph.from_rows(history_rows)
    with pytest.raises(UnknownIdError) as err:
        graph.walk("scores:churn@v9")
    assert "scores:churn@v9 does not appear" in err.value.message
    assert "scores:churn@v1, scores:churn@v2, scores:churn@v3" in err.value.hint
    assert err.value.exit_code == 3
    with pytest.raises(UnknownIdError, match="no environment named 'nope'"):
        graph.walk("env:nope@000000000000")


@pytest.mark.parametrize("bad", ["churn", "model:", "blob:churn@1", ""])
def test_malformed_ids_are_refused(bad):
    with pytest.raises(UnknownIdError, match="is not an artifact id"):
        check_id(bad)


def test_empty_table_says_so():
    with pytest.raises(UnknownIdError, match="lineage table is empty"):
        LineageGraph([]).walk("model:churn@1")
