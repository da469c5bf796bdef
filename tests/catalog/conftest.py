"""A small populated platform home for the catalog's pages.

The session's ``trainset_home`` (raw tables, ``customer_profile`` ingested, ``ts:churn@v0``)
copied into the test's home, two versions of ``churn`` registered with the lifecycle
tests' ``register`` fixture (version 1 the champion), the lineage a real life cycle
records, one scoring run in the scores table and a realized-performance row.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
from lifecycle import conftest as lifecycle_fixtures
from lifecycle.toys import fit

# the lifecycle tests' MLflow store, toy data and model registration, reused here
empty_mlflow_db = lifecycle_fixtures.empty_mlflow_db
mlflow_db = lifecycle_fixtures.mlflow_db
toy_data = lifecycle_fixtures.toy_data
register = lifecycle_fixtures.register

ENV_ID = "env:sklearn@0123456789ab"
CODE_ID = "code:git:abcdef123456"


def _log_run(settings: Any, version: int, params: dict[str, str], metrics: dict[str, float]) -> None:
    from mlplatform.lifecycle.models import client

    mlflow_client = client(settings)
    run_id = mlflow_client.get_model_version("churn", str(version)).run_id
    for key, value in params.items():
        mlflow_client.log_param(run_id, key, value)
    for key, value in metrics.items():
        mlflow_client.log_metric(run_id, f"holdout.{key}", value)


def _record_life(settings: Any, fs_id: str) -> None:
    from mlplatform.lineage.edges import Edge, record

    record(settings, [Edge(fs_id, "feature_set", "ts:churn@v0")], "build_trainset", "ts-run-1")
    for version in (1, 2):
        model_id = f"model:churn@{version}"
        edges = [
            Edge("ts:churn@v0", "training_set", model_id),
            Edge(ENV_ID, "environment", model_id),
            Edge(CODE_ID, "code", model_id),
        ]
        record(settings, edges, "register", f"mlflow-run-{version}")
    scored = [
        Edge("model:churn@1", "model", "scores:churn@v0"),
        Edge(ENV_ID, "environment", "scores:churn@v0"),
        Edge(fs_id, "input", "scores:churn@v0"),
    ]
    record(settings, scored, "score", "score-run-1")


def _write_scores(settings: Any, fs_id: str) -> None:
    import pandas as pd

    from mlplatform import tables

    frame = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "score": [0.1, 0.7, 0.4],
            "run_date": pd.to_datetime(["2024-06-01"] * 3).date,
            "model_version": [1, 1, 1],
            "env_id": [ENV_ID] * 3,
            "input_table": ["features/customer_profile"] * 3,
            "input_version": [int(fs_id.rsplit("@v", 1)[1])] * 3,
            "scoring_run_id": ["score-run-1"] * 3,
            "scored_at": pd.to_datetime(["2024-06-01T02:00:00Z"] * 3),
        }
    )
    tables.write_pandas(frame, tables.table_uri(settings, "scores", "churn"), partition_by=["run_date"])


def _write_performance(settings: Any) -> None:
    from mlplatform.monitoring.performance import RealizedMetric, write_performance

    metric = RealizedMetric("churn", "1", "2024-06-01", "roc_auc", 0.81, "roc_auc >= 0.7", "ok", 3, 3, 1, "2024-07-01")
    write_performance(settings, "churn", [metric])


@pytest.fixture
def catalog_home(
    trainset_home: Path, mlp_home: Path, settings: Any, register: Callable[..., int], toy_data: Any
) -> Any:
    """Settings of a home holding feature set, training set, models, lineage, audit, scores and performance."""
    from mlplatform import features
    from mlplatform.lifecycle.models import promote
    from mlplatform.tracking.model_registry import TAG_CODE_VERSION, TAG_ENV_ID, TAG_TRAINING_SET

    shutil.copytree(trainset_home, mlp_home, symlinks=True, dirs_exist_ok=True)
    train, _ = toy_data
    tags = {TAG_ENV_ID: ENV_ID, TAG_TRAINING_SET: "ts:churn@v0", TAG_CODE_VERSION: CODE_ID}
    for version, (kind, c) in enumerate((("good", "1.0"), ("bad", "0.1")), start=1):
        register("churn", fit(kind, train), train, tags=tags)
        _log_run(settings, version, {"C": c, "max_iter": "500"}, {"roc_auc": 0.9 if kind == "good" else 0.5})
    promote("churn", 1, settings, reason="first champion")
    fs_id = features.describe("customer_profile", settings)["id"]
    _record_life(settings, fs_id)
    _write_scores(settings, fs_id)
    _write_performance(settings)
    return settings


# users of the governed home: alice registered churn v2, bob asked for its promotion, dave approves, carol may not
AUTHOR, REQUESTER, APPROVER, OUTSIDER = "alice", "bob", "dave", "carol"
PASSWORDS = {AUTHOR: "alice-pw", REQUESTER: "bob-pw", APPROVER: "dave-pw", OUTSIDER: "carol-pw"}


@pytest.fixture
def governed_home(catalog_home: Any, mlp_home: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The catalog home with churn under two-person promotion: a pending request by bob for v2 (alice's).

    Also ``mlp_home / "passwords"``: a password file of the four users, written by ``mlp ui passwd``'s code.
    """
    import json

    from mlplatform.catalog.auth import set_password
    from mlplatform.identity import acting_for
    from mlplatform.lifecycle.approvals import request_promotion
    from mlplatform.lineage.edges import Edge, record

    policy = mlp_home / "governance.yaml"
    approvers = [AUTHOR, REQUESTER, APPROVER]
    policy.write_text(
        json.dumps({"models": {"churn": {"approval": "required", "owners": [REQUESTER], "approvers": approvers}}})
    )
    monkeypatch.setenv("MLP_GOVERNANCE", str(policy))
    with acting_for(AUTHOR):
        record(catalog_home, [Edge(CODE_ID, "code", "model:churn@2")], "register", "mlflow-run-2-by-alice")
    with acting_for(REQUESTER):
        request_promotion("churn", 2, catalog_home, reason="beats v1 on the holdout")
    for user, password in PASSWORDS.items():
        set_password(mlp_home / "passwords", user, password)
    return catalog_home
