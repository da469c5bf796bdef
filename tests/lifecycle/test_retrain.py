"""Retrain -> benchmark -> promote or keep, on the real feature repository, Spark, MLflow and Delta."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mlplatform.errors import NoChampionError, NoNewDataError, UnknownModelError

from .toys import fit

REPO = Path(__file__).resolve().parents[2]
CUSTOMERS = 400
FEATURE_SETS = ("account_activity",)
TRAINSET = {
    "name": "churn",
    "labels": {
        "table": "raw/churn_labels",
        "event_timestamp": "label_time",
        "keys": ["customer_id"],
        "label": "churned",
    },
    "features": ["account_activity:*"],
    "engine": "pandas",
}
MODEL = {
    "training_set": {"name": "churn"},
    "label": "churned",
    "exclude": ["customer_id", "label_time"],
    "estimator": "mlplatform.training.pipelines:random_forest",
    "params": {"model__n_estimators": 30, "model__random_state": 0},
    "search": {"strategy": "grid", "space": {"model__max_depth": [4]}},
    "cv": {"folds": 2},
    "metrics": {"primary": "roc_auc", "thresholds": ["roc_auc >= 0.3"]},
}
# the first champion guesses: same data and features, no skill
WEAK = {
    **MODEL,
    "estimator": "sklearn.dummy.DummyClassifier",
    "params": {"random_state": 0},
    "search": {"strategy": "grid", "space": {"strategy": ["uniform"]}},
}


@pytest.fixture(scope="session")
def raw_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Raw churn tables only (400 customers, labels on the 1st of each month of 2024): no Spark."""
    from mlplatform.config import load_settings
    from mlplatform.features.datagen import write_raw_tables

    home = tmp_path_factory.mktemp("lifecycle-raw") / ".mlp"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_PROJECT", str(REPO))
        mp.setenv("MLP_HOME", str(home))
        write_raw_tables(load_settings(), size="tiny", customers=CUSTOMERS)
    return home


@pytest.fixture(scope="session")
def churn_home(raw_home: Path, spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The raw tables plus the daily activity feature set ingested on Spark."""
    from mlplatform.config import load_settings
    from mlplatform.features import apply, ingest, load_feature_sets

    home = tmp_path_factory.mktemp("lifecycle-churn") / ".mlp"
    shutil.copytree(raw_home, home, symlinks=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_PROJECT", str(REPO))
        mp.setenv("MLP_HOME", str(home))
        settings = load_settings()
        apply(settings, [d for d in load_feature_sets() if d.name in FEATURE_SETS])
        for name in FEATURE_SETS:
            ingest(spark, settings, name)
    return home


def make_project(home: Path, mlp_home: Path, root: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings of a copy of ``home`` in a project whose conf/ holds the churn specs and a lifecycle policy."""
    from mlplatform.config import load_settings

    shutil.copytree(home, mlp_home, symlinks=True, dirs_exist_ok=True)
    shutil.copytree(REPO / "conf" / "features", root / "conf" / "features")
    for folder, name, body in (("trainsets", "churn", TRAINSET), ("models", "churn", MODEL)):
        (root / "conf" / folder).mkdir(parents=True, exist_ok=True)
        (root / "conf" / folder / f"{name}.yaml").write_text(yaml.safe_dump(body))
    (root / "conf" / "lifecycle.yaml").write_text(
        yaml.safe_dump({"default": {"margin": 0.02, "holdout_days": 45, "min_holdout_rows": 50}})
    )
    monkeypatch.setenv("MLP_PROJECT", str(root))
    monkeypatch.setenv("MLP_JARS_DIR", str(REPO / ".mlp" / "jars"))
    return load_settings()


def first_champion(settings, spark) -> int:
    """ts:churn with labels before 2024-09-01, the weak model trained on it and promoted.

    The training set is built as ``mlp trainset build`` does, recording no edges: its
    lineage comes from its manifest.
    """
    from mlplatform import features
    from mlplatform.lifecycle import models
    from mlplatform.training.spec import load_spec
    from mlplatform.training.train import train

    spec = features.load_trainset_spec("churn")
    built = features.build_trainset(
        spec.model_copy(update={"labels": spec.labels.model_copy(update={"end": "2024-09-01"})}), settings
    )
    result = train(
        load_spec(data={"name": "churn", **WEAK}),
        settings,
        spark=spark,
        training_set_version=built.version,
        code_version="git:first",
    )
    models.promote("churn", result.version, settings, reason="first champion")
    return result.version


@pytest.mark.slow
def test_retrain_promotes_a_better_challenger_keeps_a_worse_one_and_rolls_back(
    churn_home, mlp_home, tmp_path, monkeypatch, spark
):
    from mlflow import MlflowClient

    from mlplatform import features
    from mlplatform.lifecycle import models
    from mlplatform.lifecycle.benchmark import history
    from mlplatform.lifecycle.retrain import retrain
    from mlplatform.lineage.audit import audit
    from mlplatform.lineage.graph import load_graph
    from mlplatform.tracking import model_registry

    settings = make_project(churn_home, mlp_home, tmp_path / "project", monkeypatch)
    assert first_champion(settings, spark) == 1

    outcome = retrain("churn", "2024-10-31", settings, spark=spark, code_version="git:second")
    assert outcome.decision == "promoted", outcome.lines()
    assert outcome.champion == "model:churn@1" and outcome.challenger == "model:churn@2"
    assert model_registry.resolve("churn@champion", settings).version == 2
    # the fresh holdout: the 2024-10-01 snapshot only (after the champion's last label, inside 45 days)
    holdout = model_registry.resolve("churn@2", settings)
    assert outcome.holdout == "ts:churn_holdout@v0" and outcome.holdout_rows > 50
    assert outcome.metrics["challenger"]["roc_auc"] > outcome.metrics["champion"]["roc_auc"] + 0.02
    (row,) = history(settings, model="churn")
    assert (row["decision"], row["champion_version"], row["challenger_version"], row["run_date"]) == (
        "promoted",
        1,
        2,
        "2024-10-31",
    )
    artifacts = {f.path for f in MlflowClient().list_artifacts(outcome.mlflow_run_id, "benchmark")}
    assert "benchmark/roc.png" in artifacts

    # lineage: the promoted model reaches its training set, feature-set versions and code;
    # the benchmark is downstream of both models and of the holdout
    graph = load_graph(settings)
    manifest = features.trainset_manifest("churn", int(outcome.training_set.rsplit("@v", 1)[1]), settings=settings)
    read = {info["id"] for info in manifest["features"].values()}
    assert [i.split("@")[0] for i in read] == ["fs:account_activity"]
    up = graph.walk("model:churn@2").upstream_ids()
    assert {outcome.training_set, "code:git:second", *read} <= up
    assert holdout.tags["mlp.training_set"] == outcome.training_set
    assert {"model:churn@1", "model:churn@2", "ts:churn_holdout@v0", *read} <= graph.walk(
        outcome.benchmark_id
    ).upstream_ids()
    for fs_id in read:
        assert {"model:churn@1", "model:churn@2", outcome.benchmark_id} <= graph.walk(fs_id).downstream_ids()

    # the same run date again: nothing is retrained
    again = retrain("churn", "2024-10-31", settings, spark=spark)
    assert again.decision == "already done" and again.benchmark_id == outcome.benchmark_id

    # forced, with a margin no challenger can clear: the champion is kept, and the log says why
    kept = retrain("churn", "2024-10-31", settings, spark=spark, margin=0.5, force=True, code_version="git:third")
    assert kept.decision == "kept" and kept.challenger == "model:churn@3"
    assert any("below the margin 0.5" in r for r in kept.reasons)
    assert model_registry.resolve("churn@champion", settings).version == 2

    # forced, with a bar the challenger cannot clear in training: not registered, the champion is kept
    strict = {**MODEL, "metrics": {"primary": "roc_auc", "thresholds": ["roc_auc >= 0.999"]}}
    (tmp_path / "project" / "conf" / "models" / "churn.yaml").write_text(yaml.safe_dump(strict))
    missed = retrain("churn", "2024-10-31", settings, spark=spark, force=True, code_version="git:fourth")
    assert missed.decision == "kept" and missed.challenger is None and missed.benchmark_id is None
    (reason,) = missed.reasons
    assert reason.startswith("challenger not registered: held-out roc_auc = ") and "bar roc_auc >= 0.999" in reason
    assert missed.training_set and missed.holdout and missed.holdout_rows > 50
    assert model_registry.resolve("churn@champion", settings).version == 2
    assert model_registry.resolve("churn@challenger", settings).version == 3  # nothing new registered

    # no labels after the champion's: exit code 99, nothing built
    with pytest.raises(NoNewDataError) as err:
        retrain("churn", "2024-08-15", settings, spark=spark)
    assert err.value.exit_code == 99 and "0 labelled row(s)" in err.value.message

    back = models.rollback("churn", settings, reason="v2 drifts")
    assert back.version == 1 and model_registry.resolve("churn@champion", settings).version == 1

    decisions = [
        (e.action, e.details.get("version"))
        for e in audit(settings, model="churn")
        if e.action in ("promote", "keep", "rollback")
    ]
    assert decisions == [("promote", 1), ("promote", 2), ("keep", 2), ("keep", 2), ("rollback", 1)]
    (untrained,) = [e for e in audit(settings, model="churn") if e.action == "keep" and "training_run" in e.details]
    assert untrained.details["reason"] == reason and untrained.details["run_date"] == "2024-10-31"


def test_retrain_bad_input(raw_home, mlp_home, tmp_path, monkeypatch, register, toy_data, mlp):
    from mlplatform.lifecycle import models
    from mlplatform.lifecycle.retrain import retrain

    settings = make_project(raw_home, mlp_home, tmp_path / "project", monkeypatch)
    with pytest.raises(UnknownModelError, match="no model spec named 'nope'"):
        retrain("nope", "2024-10-31", settings)
    with pytest.raises(UnknownModelError, match="no registered model named 'churn'"):
        retrain("churn", "2024-10-31", settings)
    train, _ = toy_data
    version = register("churn", fit("good", train), train)
    with pytest.raises(NoChampionError, match="model 'churn' has no champion"):
        retrain("churn", "2024-10-31", settings)
    models.promote("churn", version, settings)
    with pytest.raises(Exception, match="is not a date"):
        retrain("churn", "31.10.2024", settings)

    # the first labels are on 2024-02-01: a run date before them has no fresh rows
    done = mlp(["retrain", "churn", "--run-date", "2023-12-31"])
    assert done.returncode == 99, done.stderr
    assert "0 labelled row(s)" in done.stderr and "run again when new labels have landed" in done.stderr
    done = mlp(["retrain", "nope", "--run-date", "2024-08-15"])
    assert done.returncode == 3 and "no model spec named 'nope'" in done.stderr

    # the nightly script: one model skipped for lack of data, one unknown -> failure, one line each
    nightly = subprocess.run(
        [str(REPO / "scripts" / "nightly-retrain"), "2023-12-31", "--models", "churn,nope"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert nightly.returncode == 1, nightly.stderr
    assert "churn: skipped" in nightly.stderr and "nope: FAILED" in nightly.stderr and "(exit 3)" in nightly.stderr
    assert (Path(settings.home) / "logs" / "nightly-retrain" / "2023-12-31" / "nope.log").is_file()


def test_nightly_exit_code_aggregation():
    from mlplatform.lifecycle.nightly import Outcome, exit_code

    def outcomes(*codes: int) -> list[Outcome]:
        return [Outcome(f"m{i}", code, "", 0.0) for i, code in enumerate(codes)]

    assert exit_code(outcomes(0, 99)) == 0
    assert exit_code(outcomes(99, 99)) == 99
    assert exit_code(outcomes(0, 4, 99)) == 1
    assert exit_code([]) == 0


@pytest.mark.slow
def test_a_fired_trigger_retrains_with_its_reason_and_the_cooldown_holds_the_next_night(
    churn_home, mlp_home, tmp_path, monkeypatch, spark
):
    """retrain_on: triggers. No drift: exit 99. Drift on two features: retrain, benchmark, reason kept
    everywhere. The next night the same drift is held by the cooldown: exit 99 again."""
    from mlflow import MlflowClient

    from mlplatform import features
    from mlplatform.errors import NotTriggeredError
    from mlplatform.lifecycle.benchmark import history
    from mlplatform.lifecycle.retrain import retrain
    from mlplatform.lineage.audit import audit
    from mlplatform.monitoring import compare
    from mlplatform.monitoring.store import read_profile, write_drift

    settings = make_project(churn_home, mlp_home, tmp_path / "project", monkeypatch)
    policy = {"margin": 0.5, "holdout_days": 45, "min_holdout_rows": 50, "retrain_on": "triggers"}
    (tmp_path / "project" / "conf" / "lifecycle.yaml").write_text(yaml.safe_dump({"default": policy}))
    version = first_champion(settings, spark)
    _check_profile_backfill(settings, version, mlp_home)

    with pytest.raises(NotTriggeredError) as quiet:
        retrain("churn", "2024-10-30", settings, spark=spark)
    assert quiet.value.exit_code == 99 and "no retraining trigger fired for model:churn@1" in quiet.value.message

    # the nightly scoring of 2024-10-30 measured drift: two features shifted by two standard deviations
    profile = read_profile(settings, "churn", version)
    rows = features.read_trainset("churn", settings=settings)[list(profile.features)]
    numeric = [name for name, column in profile.features.items() if column.kind == "numeric"][:2]
    for name in numeric:
        rows[name] = rows[name] + 2 * rows[name].std()
    write_drift(settings, compare(profile, rows), run_date="2024-10-30")

    outcome = retrain("churn", "2024-10-31", settings, spark=spark, code_version="git:triggered")
    assert outcome.decision == "kept" and outcome.trigger.startswith("triggered: drift on 2024-10-30")
    assert all(name in outcome.trigger for name in numeric)
    assert outcome.lines()[1].strip() == outcome.trigger
    (row,) = history(settings, model="churn")
    assert json.loads(row["reasons"])[0] == outcome.trigger
    report = MlflowClient().download_artifacts(outcome.mlflow_run_id, "benchmark/report.md", str(tmp_path))
    assert f"Why this retrain: {outcome.trigger}." in Path(report).read_text()
    events = {e.action: e for e in audit(settings, model="churn")}
    assert events["keep"].details["trigger"] == outcome.trigger
    assert events["benchmark"].details["trigger"] == outcome.trigger
    assert events["trigger"].details == {
        "model": "churn",
        "version": 1,
        "run_date": "2024-10-31",
        "reason": outcome.trigger,
    }

    with pytest.raises(NotTriggeredError) as held:
        retrain("churn", "2024-11-01", settings, spark=spark)
    assert "a triggered retrain on 2024-10-31; triggers fire again from 2024-11-07" in held.value.message


def _check_profile_backfill(settings, version: int, home: Path) -> None:
    """A lost profile row comes back from the run's artifact; rebuilt from the training set it equals the original."""
    from deltalake import DeltaTable

    from mlplatform.errors import NoProfileError
    from mlplatform.lifecycle.profiles import backfill
    from mlplatform.monitoring.store import profiles_table, read_profile

    def columns(profile) -> dict:
        return {name: column.to_dict() for name, column in {**profile.features, **profile.outputs}.items()}

    original = read_profile(settings, "churn", version)
    DeltaTable(profiles_table(settings)).delete("model = 'churn'")
    with pytest.raises(NoProfileError):
        read_profile(settings, "churn", version)
    (restored,) = backfill("churn", settings)
    assert restored.how == "artifact" and columns(read_profile(settings, "churn", version)) == columns(original)
    assert [b.how for b in backfill("churn", settings)] == ["kept"]
    (rebuilt,) = backfill("churn", settings, version=version, force=True)
    assert rebuilt.how == "rebuilt" and rebuilt.outputs == len(original.outputs) > 0
    assert columns(read_profile(settings, "churn", version)) == columns(original)
