"""Promote, roll back, list and describe registered models; every decision in the audit log."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from mlplatform.errors import NoChampionError, UnknownModelError
from mlplatform.lifecycle import models
from mlplatform.lineage.audit import audit

from .toys import fit


@pytest.fixture
def churn(register, toy_data) -> str:
    """Model 'churn' with versions 1 and 2 (2 has alias challenger, as training leaves it)."""
    train, _ = toy_data
    register("churn", fit("bad", train), train)
    version = register("churn", fit("good", train), train)
    MlflowClient().set_registered_model_alias("churn", "challenger", str(version))
    return "churn"


def aliases(name: str) -> dict[str, str]:
    return {alias: str(version) for alias, version in MlflowClient().get_registered_model(name).aliases.items()}


def test_promote_then_rollback_restores_the_previous_champion(churn, settings):
    first = models.promote(churn, 1, settings, reason="first champion")
    assert first.previous is None and aliases(churn) == {"champion": "1", "challenger": "2"}
    second = models.promote(churn, 2, settings, reason="beats v1")
    assert second.previous == 1
    assert aliases(churn) == {"champion": "2"}  # the promoted challenger is no longer a challenger
    back = models.rollback(churn, settings, reason="v2 misbehaves")
    assert (back.version, back.previous) == (1, 2)
    assert aliases(churn) == {"champion": "1"}
    assert models.describe(churn, settings).champion_history == (1,)

    events = audit(settings, model=churn)
    assert [(e.action, e.details["version"], e.details["previous"], e.details["reason"]) for e in events] == [
        ("promote", 1, None, "first champion"),
        ("promote", 2, 1, "beats v1"),
        ("rollback", 1, 2, "v2 misbehaves"),
    ]
    assert events[-1].subjects == ("model:churn@1",) and events[-1].actor


def test_rollback_to_a_chosen_version_and_history_as_a_stack(churn, settings, register, toy_data):
    train, _ = toy_data
    register(churn, fit("good", train), train)
    for version in (1, 2, 3):
        models.promote(churn, version, settings)
    models.rollback(churn, settings, to=1)
    assert aliases(churn)["champion"] == "1"
    assert models.describe(churn, settings).champion_history == (1,)
    with pytest.raises(NoChampionError, match="no earlier champion than version 1"):
        models.rollback(churn, settings)


def test_promoting_the_champion_again_changes_nothing(churn, settings):
    models.promote(churn, 1, settings)
    again = models.promote(churn, 1, settings)
    assert not again.changed and "already the champion" in again.describe()
    assert len(audit(settings, action="promote")) == 1


def test_no_champion_and_unknown_names_have_their_own_errors(churn, settings):
    with pytest.raises(NoChampionError, match="model 'churn' has no champion to roll back") as err:
        models.rollback(churn, settings)
    assert err.value.exit_code == 4
    with pytest.raises(UnknownModelError, match="model:churn@9 does not exist") as err:
        models.promote(churn, 9, settings)
    assert err.value.exit_code == 3 and "versions of 'churn': 1, 2" in err.value.hint
    with pytest.raises(UnknownModelError, match="no registered model named 'nope'") as err:
        models.promote("nope", 1, settings)
    assert "registered models: churn" in err.value.hint


def test_a_failed_audit_write_undoes_the_promotion(churn, settings):
    from pathlib import Path

    from mlplatform.lineage.edges import lineage_table

    models.promote(churn, 1, settings)
    table = Path(lineage_table(settings).removeprefix("file://"))
    moved = table.with_name("lineage.moved")
    table.rename(moved)
    table.write_text("not a table")  # the audit table cannot be written now
    with pytest.raises(Exception):
        models.promote(churn, 2, settings)
    assert aliases(churn) == {"champion": "1", "challenger": "2"}
    assert models.describe(churn, settings).champion_history == (1,)


def test_list_and_describe(churn, settings):
    models.promote(churn, 1, settings)
    (summary,) = models.list_models(settings)
    assert (
        summary.name,
        summary.versions,
        summary.latest,
        summary.champion,
        summary.challenger,
        summary.primary_metric,
    ) == ("churn", 2, 2, 1, 2, "roc_auc")
    described = models.describe(churn, settings)
    assert [v.version for v in described.versions] == [1, 2]
    assert described.versions[0].aliases == ("champion",)
    assert described.definitions["primary"] == "roc_auc"


def test_cli_promote_rollback_and_exit_codes(churn, mlp):
    done = mlp(["models", "promote", churn, "1", "--reason", "cli test"])
    assert done.returncode == 0, done.stderr
    assert "champion of 'churn' is now version 1" in done.stdout
    done = mlp(["models", "rollback", churn])
    assert done.returncode == 4 and "no earlier champion" in done.stderr
    done = mlp(["models", "promote", churn, "7"])
    assert done.returncode == 3 and "model:churn@7 does not exist" in done.stderr
    done = mlp(["models", "describe", churn, "--json"])
    assert done.returncode == 0 and json.loads(done.stdout)["champion_history"] == [1]
