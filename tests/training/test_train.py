"""train(): MLflow parent + child runs, plots and data, the model directory, registration and lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlplatform.training.train import TrainingData, train


def _client(settings):
    from mlflow import MlflowClient

    from mlplatform.tracking.store import configure

    configure(settings)
    return MlflowClient()


def test_train_logs_runs_and_registers_challenger(spark, make_spec, frame, settings, tmp_path, monkeypatch):
    import os
    import pwd

    from mlplatform import tables
    from mlplatform.lineage import lineage_table
    from mlplatform.tracking.model_registry import (
        TAG_CODE_VERSION,
        TAG_ENV_ID,
        TAG_FEATURE_SETS,
        TAG_METRICS,
        TAG_SPEC_HASH,
        TAG_TRAINING_SET,
        download,
        resolve,
    )

    spec = make_spec(
        name="toy",
        params={"random_state": 0, "max_depth": 4},
        search={"strategy": "grid", "space": {"min_samples_leaf": [1, 10, 30]}},
    )
    data = TrainingData(frame, "ts:toy@v3", ("fs:activity@v2", "fs:profile@v5"))
    monkeypatch.setenv("LOGNAME", "not-the-user")  # getpass would believe it; the runs name the OS user
    result = train(spec, settings=settings, spark=spark, data=data, code_version="git:abc123")

    assert result.version == 1 and result.model_id == "model:toy@1"
    info = resolve("toy@challenger", settings)
    assert info.version == 1 and info.run_id == result.run_id
    assert info.tags[TAG_TRAINING_SET] == "ts:toy@v3"
    assert json.loads(info.tags[TAG_FEATURE_SETS]) == ["fs:activity@v2", "fs:profile@v5"]
    assert info.tags[TAG_CODE_VERSION] == "git:abc123" and info.tags[TAG_SPEC_HASH] == spec.digest()
    assert TAG_ENV_ID not in info.tags  # no env: trials ran with the driver's Python
    metrics_tag = json.loads(info.tags[TAG_METRICS])
    assert metrics_tag["primary"] == "roc_auc" and metrics_tag["thresholds"] == [
        {"metric": "roc_auc", "op": ">=", "value": 0.6}
    ]

    client = _client(settings)
    parent = client.get_run(result.run_id)
    assert parent.data.tags["mlp.registered"] == "true" and parent.data.params["strategy"] == "grid"
    assert parent.data.metrics["holdout_roc_auc"] == pytest.approx(result.holdout_metrics["roc_auc"])
    assert parent.data.metrics["search_tasks"] == 9
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert sorted(c.data.params["min_samples_leaf"] for c in children) == ["1", "10", "30"]
    user = pwd.getpwuid(os.geteuid()).pw_name
    assert parent.info.user_id == user and {c.info.user_id for c in children} == {user}
    for child in children:
        assert {"mean_roc_auc", "std_roc_auc", "fit_time", "fold_roc_auc"} <= set(child.data.metrics)
        assert len(client.get_metric_history(child.info.run_id, "fold_roc_auc")) == 3

    artifacts = {a.path for a in client.list_artifacts(result.run_id, "plots")} | {
        a.path for a in client.list_artifacts(result.run_id, "evaluation")
    }
    for name in ("roc_curve", "pr_curve", "confusion_matrix", "feature_importances"):
        assert f"plots/{name}.png" in artifacts and f"evaluation/{name}.json" in artifacts

    model_dir = download(info, tmp_path / "model", settings)
    names = {p.name for p in Path(model_dir).iterdir()}
    assert {"MLmodel", "model.pkl", "requirements.txt", "input_example.json", "python_env.yaml"} <= names
    import cloudpickle
    import mlflow.pyfunc

    fitted = cloudpickle.loads((Path(model_dir) / "model.pkl").read_bytes())
    # the refit tree inside the decision threshold tuned for f1 (the default), which predict applies
    assert type(fitted).__name__ == "FixedThresholdClassifier" and fitted.threshold == result.decision.threshold
    assert fitted.estimator_.get_params()["min_samples_leaf"] == result.best_params["min_samples_leaf"]
    pyfunc = mlflow.pyfunc.load_model(str(model_dir))
    assert list(pyfunc.metadata.get_input_schema().input_names()) == [f"f{i}" for i in range(6)]
    assert len(pyfunc.predict(frame.drop(columns="label").head(7))) == 7

    edges = tables.to_pandas(lineage_table(settings))
    got = sorted(zip(edges["from_id"], edges["relation"], edges["to_id"]))
    assert got == [("code:git:abc123", "code", "model:toy@1"), ("ts:toy@v3", "training_set", "model:toy@1")]
    _check_reference_profile(spec, frame, fitted, settings, client, result.run_id)


def _check_reference_profile(spec, frame, fitted, settings, client, run_id):
    """The version's reference: its training rows' features; the registered model's outputs on the held-out rows."""
    from mlplatform.monitoring import Profile, build_profile
    from mlplatform.monitoring.store import read_profile
    from mlplatform.training.executor import HOLDOUT_COLUMN
    from mlplatform.training.prepare import prepare

    prepared = prepare(spec, frame)
    held_out = prepared.frame[HOLDOUT_COLUMN]
    training, test = prepared.frame[~held_out][prepared.features], prepared.frame[held_out][prepared.features]
    expected = build_profile(training, fitted.predict(test), fitted.predict_proba(test)[:, 1], model="toy", version=1)
    stored = read_profile(settings, "toy", 1)
    assert stored.features == expected.features and stored.outputs == expected.outputs
    assert stored.outputs["probability"].rows == int(held_out.sum()) and stored.rows == len(training)
    logged = Profile.from_dict(
        json.loads(Path(client.download_artifacts(run_id, "monitoring/profile.json")).read_text())
    )
    assert logged.features == stored.features and logged.version is None  # logged before registration


def test_missed_threshold_keeps_run_and_registers_nothing(spark, make_spec, frame, settings, caplog):
    from mlflow.exceptions import MlflowException

    spec = make_spec(
        name="strict",
        search={"strategy": "grid", "space": {"max_depth": [1]}},
        metrics={"primary": "roc_auc", "thresholds": ["roc_auc >= 0.999", "accuracy >= 0.5"]},
    )
    with caplog.at_level("WARNING", logger="mlplatform.training.train"):
        result = train(spec, settings=settings, spark=spark, data=TrainingData(frame), code_version="t")
    message = result.threshold_message()
    auc = result.holdout_metrics["roc_auc"]
    assert message.startswith("model 'strict' not registered: held-out roc_auc = ")
    assert f"roc_auc = {auc:.4f}, bar roc_auc >= 0.999 (missed by {0.999 - auc:.4f})" in message
    assert f"run {result.run_id} is kept in experiment 'strict'; improve the model or revisit the bar" in message
    assert "accuracy" not in message and result.version is None and result.model_id is None
    assert len(result.misses) == 1
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [message]
    client = _client(settings)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["mlp.registered"] == "false"
    with pytest.raises(MlflowException):
        client.get_registered_model("strict")
