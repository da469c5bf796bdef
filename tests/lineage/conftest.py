"""Realistic lineage edges, as the platform's jobs record them."""

from __future__ import annotations

import pytest

from mlplatform.lineage.edges import Edge

ENV = "env:churn@0123456789ab"
CODE = "code:git:abcdef123456"


def churn_history() -> list[tuple[str, list[Edge], str]]:
    """(action, edges, job run) in the order a real life cycle writes them.

    Two feature sets build training set v1; model 1 is trained on it in env ENV with code CODE
    and scores twice (on activity v3 and v5); training set v2 (activity v5) trains model 2,
    which scores once. An unrelated model 'fraud' uses other feature sets.
    """
    return [
        (
            "build_trainset",
            [
                Edge("fs:activity@v3", "feature_set", "ts:churn@v1"),
                Edge("fs:support@v2", "feature_set", "ts:churn@v1"),
                Edge("table:labels@v4", "label_source", "ts:churn@v1"),
            ],
            "ts-run-1",
        ),
        (
            "register",
            [
                Edge(CODE, "code", "model:churn@1"),
                Edge(ENV, "environment", "model:churn@1"),
                Edge("ts:churn@v1", "training_set", "model:churn@1"),
            ],
            "mlflow-run-1",
        ),
        (
            "score",
            [
                Edge("model:churn@1", "model", "scores:churn@v1"),
                Edge(ENV, "environment", "scores:churn@v1"),
                Edge("fs:activity@v3", "input", "scores:churn@v1"),
            ],
            "score-run-1",
        ),
        (
            "score",
            [
                Edge("model:churn@1", "model", "scores:churn@v2"),
                Edge(ENV, "environment", "scores:churn@v2"),
                Edge("fs:activity@v5", "input", "scores:churn@v2"),
            ],
            "score-run-2",
        ),
        (
            "build_trainset",
            [
                Edge("fs:activity@v5", "feature_set", "ts:churn@v2"),
                Edge("fs:support@v2", "feature_set", "ts:churn@v2"),
                Edge("table:labels@v5", "label_source", "ts:churn@v2"),
            ],
            "ts-run-2",
        ),
        (
            "register",
            [
                Edge(CODE, "code", "model:churn@2"),
                Edge(ENV, "environment", "model:churn@2"),
                Edge("ts:churn@v2", "training_set", "model:churn@2"),
            ],
            "mlflow-run-2",
        ),
        (
            "score",
            [
                Edge("model:churn@2", "model", "scores:churn@v3"),
                Edge(ENV, "environment", "scores:churn@v3"),
                Edge("fs:activity@v5", "input", "scores:churn@v3"),
            ],
            "score-run-3",
        ),
        ("build_trainset", [Edge("fs:payments@v1", "feature_set", "ts:fraud@v1")], "ts-run-3"),
        (
            "register",
            [
                Edge("ts:fraud@v1", "training_set", "model:fraud@1"),
                Edge("env:fraud@ffffffffffff", "environment", "model:fraud@1"),
            ],
            "mlflow-run-3",
        ),
    ]


@pytest.fixture
def history_rows() -> list[tuple[str, str, str]]:
    """The same history as plain (from, relation, to) rows."""
    return [(e.from_id, e.relation, e.to_id) for _, edges, _ in churn_history() for e in edges]
