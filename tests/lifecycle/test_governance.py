"""Two-person promotion and break-glass rollback, with real OS users running ``mlp``.

The users (and an approvers group) are created by the test as root and deleted after it;
each command runs as one of them, so the platform sees who acts the way it would on a
shared edge node. Without root the tests that need users skip.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from os_users import created, run_as

from mlplatform.errors import GovernanceError
from mlplatform.governance.policy import load_policy, members
from mlplatform.lifecycle.approvals import approve, promote_or_request, request_promotion, requests
from mlplatform.lifecycle.models import champion_version, promote
from mlplatform.lineage.audit import audit

from .toys import FEATURES

# the root conftest's values (a module named conftest may be another folder's in a full run)
REPO = Path(__file__).resolve().parents[2]
MLP = str(Path(sys.executable).with_name("mlp"))

ALICE, BOB, CAROL, DAVE = "mlp-t-alice", "mlp-t-bob", "mlp-t-carol", "mlp-t-dave"
APPROVERS = "mlp-t-approvers"


@pytest.fixture
def mlp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A home every test user can read and write (pytest's own tmp folders are root's only)."""
    for var in [v for v in os.environ if v.startswith("MLP_")]:
        monkeypatch.delenv(var, raising=False)
    shared = Path(tempfile.mkdtemp(prefix="mlp-gov-", dir="/tmp"))
    shared.chmod(0o777)
    home = shared / ".mlp"
    home.mkdir()
    monkeypatch.setenv("MLP_PROJECT", str(REPO))
    monkeypatch.setenv("MLP_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home}/mlflow.db")
    yield home
    shutil.rmtree(shared, ignore_errors=True)


@pytest.fixture(scope="module")
def users():
    """The four users; alice, bob and dave approve through the group, carol does not."""
    if os.geteuid() != 0:
        pytest.skip("creating OS users needs root")
    with created(
        {name: [] if name == CAROL else [APPROVERS] for name in [ALICE, BOB, CAROL, DAVE]}, [APPROVERS]
    ) as names:
        yield names


def _share(home: Path) -> None:
    for path in [home, *home.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)


def _policy(home: Path, monkeypatch: pytest.MonkeyPatch, **churn: object) -> None:
    conf = {"models": {"churn": {"approval": "required", "owners": [BOB], "approvers": [f"@{APPROVERS}"], **churn}}}
    path = home / "governance.yaml"
    path.write_text(json.dumps(conf))
    monkeypatch.setenv("MLP_GOVERNANCE", str(path))


_REGISTERED_BY = """
import sys
from mlplatform.config import load_settings
from mlplatform.lineage.edges import Edge, record
record(load_settings(), [Edge("code:git:abc", "code", f"model:churn@{sys.argv[1]}")], action="register", job_run="r")
"""


@pytest.fixture
def two_versions(settings, register, toy_data):
    """churn v1 (champion) and v2, registered the way training does; alice registered v2."""
    from sklearn.linear_model import LogisticRegression

    train, _ = toy_data
    for _ in range(2):
        register("churn", LogisticRegression(max_iter=200).fit(train[FEATURES], train["label"]), train)
    promote("churn", 1, settings)
    return settings


def test_the_author_the_requester_and_a_non_approver_cannot_approve_a_second_approver_can(
    users, two_versions, mlp_home, monkeypatch
):
    settings = two_versions
    _policy(mlp_home, monkeypatch)
    _share(mlp_home)
    assert run_as(ALICE, sys.executable, "-c", _REGISTERED_BY, "2").returncode == 0
    refused = run_as(BOB, MLP, "models", "promote", "churn", "2")
    assert refused.returncode == 1 and "mlp models request-promotion churn 2" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    asked = run_as(BOB, MLP, "models", "request-promotion", "churn", "2", "--reason", "beats v1")
    assert asked.returncode == 0, asked.stderr
    for user, words in [(ALICE, "registered model:churn@2"), (BOB, "asked for request"), (CAROL, "not an approver")]:
        done = run_as(user, MLP, "models", "approve", "churn", "2")
        assert done.returncode == 1 and f"user '{user}'" in done.stderr and words in done.stderr, done.stderr
        assert champion_version("churn", settings) == 1
    done = run_as(DAVE, MLP, "models", "approve", "churn", "2", "--note", "checked the report")
    assert done.returncode == 0, done.stderr
    assert champion_version("churn", settings) == 2
    (row,) = audit(settings, action="promote", artifact="model:churn@2")
    assert row.actor == DAVE and row.details["approval"]["requested_by"] == BOB
    assert [e.actor for e in audit(settings, action="governance.requested")] == [BOB]
    assert [r.status() for r in requests(settings, "churn")] == ["approved"]


def test_break_glass_rollback_by_an_owner_leaves_the_approval_owed(users, two_versions, mlp_home, monkeypatch):
    settings = two_versions
    promote("churn", 2, settings)
    _policy(mlp_home, monkeypatch)
    _share(mlp_home)
    plain = run_as(BOB, MLP, "models", "rollback", "churn")
    assert plain.returncode == 1 and "--break-glass" in plain.stderr
    not_owner = run_as(CAROL, MLP, "models", "rollback", "churn", "--break-glass", "--reason", "v2 is down")
    assert not_owner.returncode == 1 and f"user '{CAROL}' is not an owner" in not_owner.stderr
    assert champion_version("churn", settings) == 2
    done = run_as(BOB, MLP, "models", "rollback", "churn", "--break-glass", "--reason", "v2 is down")
    assert done.returncode == 0, done.stderr
    assert champion_version("churn", settings) == 1
    (row,) = audit(settings, action="rollback")
    assert row.actor == BOB and row.details["break_glass"] is True and row.details["approval"] == "owed"
    owed = run_as(CAROL, MLP, "models", "requests", "churn")
    assert "owed" in owed.stdout and "v2 is down" in owed.stdout, owed.stdout
    assert run_as(DAVE, MLP, "models", "approve", "churn", "1").returncode == 0
    assert "no open requests" in run_as(CAROL, MLP, "models", "requests").stdout
    assert champion_version("churn", settings) == 1


def test_a_request_expires(two_versions, mlp_home, monkeypatch):
    settings = two_versions
    _policy(mlp_home, monkeypatch, request_ttl_hours=1)
    made = request_promotion("churn", 2, settings, "beats v1")
    later = made.requested_at + timedelta(hours=1, seconds=1)
    assert made.status(later - timedelta(seconds=2)) == "pending" and made.status(later) == "expired"
    with pytest.raises(GovernanceError, match=f"request {made.request_id} for model:churn@2 is expired"):
        approve("churn", 2, settings, now=later)
    assert champion_version("churn", settings) == 1


def test_retrain_promote_becomes_a_pending_request_where_approval_is_required(two_versions, mlp_home, monkeypatch):
    settings = two_versions
    _policy(mlp_home, monkeypatch)
    assert promote_or_request("churn", 2, settings, "beats v1", "retrain-x", {"benchmark": "b1"}) == (
        "promotion requested"
    )
    assert champion_version("churn", settings) == 1
    (pending,) = requests(settings, "churn")
    assert pending.status() == "pending" and pending.version == 2
    monkeypatch.delenv("MLP_GOVERNANCE")  # the shipped conf/governance.yaml: approval auto, as before
    assert promote_or_request("churn", 2, settings, "beats v1", "retrain-y", {}) == "promoted"
    assert champion_version("churn", settings) == 2


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("models: {churn: {approval: sometimes}}", "'models.churn.approval'"),
        ("default: {approvers: [alice], ownrs: [bob]}", "unknown key 'default.ownrs'"),
        ("default: {request_ttl_hours: 0}", "'default.request_ttl_hours'"),
        ("- a list", "must hold a mapping"),
    ],
)
def test_bad_governance_config_is_one_line(tmp_path, monkeypatch, text, words):
    path = tmp_path / "governance.yaml"
    path.write_text(text)
    monkeypatch.setenv("MLP_GOVERNANCE", str(path))
    with pytest.raises(GovernanceError) as caught:
        load_policy()
    assert words in caught.value.render() and "\n" not in caught.value.render()


def test_unknown_group_is_named():
    with pytest.raises(GovernanceError, match="group 'mlp-no-such-group'"):
        members(["someone", "@mlp-no-such-group"])


def test_default_policy_is_today_s_behaviour():
    assert load_policy().policy("churn").approval == "auto"  # the shipped conf/governance.yaml
