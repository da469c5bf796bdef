"""`mlp features` and `mlp trainset` through the real console script (no Spark needed for these)."""

from __future__ import annotations

import pytest


def _ok(res) -> str:
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_generate_and_apply_in_a_fresh_home(mlp):
    out = _ok(mlp(["features", "generate", "--size", "tiny", "--customers", "50"]))
    assert "churn_labels" in out and "activity" in out
    out = _ok(mlp(["features", "apply"]))
    assert all(f"{name}  1         created" in out for name in ("account_activity", "support_contacts"))
    out = _ok(mlp(["features", "apply"]))
    assert out.count("unchanged") == 4
    res = mlp(["trainset", "build", "churn"])
    assert res.returncode == 1
    assert (
        "feature set 'customer_profile' has no table yet" in res.stderr
        and "mlp features ingest customer_profile" in res.stderr
    )


@pytest.mark.slow
def test_discovery_and_trainset_commands(churn, mlp):
    out = _ok(mlp(["features", "list"]))
    assert "account_activity" in out and "growth-data@example.com" in out and "fs:" not in out
    out = _ok(mlp(["features", "search", "complaint"]))
    assert "support_contacts" in out and "complaints_90d" in out and "account_activity" not in out
    out = _ok(mlp(["features", "describe", "support_contacts"]))
    assert "known at: known_at" in out and "ttl: 90d" in out and "fs:support_contacts@v" in out
    assert "used by training sets: -" in out

    out = _ok(mlp(["trainset", "build", "churn", "--engine", "pandas"]))
    assert out.startswith("ts:churn@v0:") and "read fs:account_activity@v" in out
    out = _ok(mlp(["trainset", "describe", "churn"]))
    assert "ts:churn@v0" in out and "label times: 2024-02-01" in out
    out = _ok(mlp(["trainset", "rebuild", "churn", "--version", "0"]))
    assert "identical to the stored rows" in out
    out = _ok(mlp(["features", "describe", "account_activity"]))
    assert "used by training sets: ts:churn@v0" in out
    out = _ok(mlp(["features", "history", "account_activity"]))
    assert "fs:account_activity@v0" in out and "merge" in out
    out = _ok(mlp(["features", "preview", "account_activity", "-n", "3"]))
    assert len(out.strip().splitlines()) == 4


def test_unknown_names_fail_in_one_line(mlp):
    res = mlp(["features", "describe", "nosuch"])
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert "feature set 'nosuch' is not registered" in res.stderr and "mlp features apply" in res.stderr
