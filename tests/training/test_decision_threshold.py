"""Decision thresholds: tuned on the CV folds as scikit-learn does, registered with the model, used by predict.

Every model here is trained through ``train()`` on the session's SparkSession with a real
MLflow store; the reference is scikit-learn's ``TunedThresholdClassifierCV`` fitted on the
same training rows with the same CV splitter and the same estimator parameters.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from wsgi_client import post

from mlplatform.errors import TrainingError
from mlplatform.training.spec import load_spec
from mlplatform.training.train import TrainingData, train

FEATURES = [f"f{i}" for i in range(6)]
NO_SPARK = "no-such-profile"  # reaching Spark would raise SparkSetupError, not TrainingError


@pytest.fixture(scope="module")
def imbalanced():
    """1,500 rows, ~6% positives (make_classification weights=[0.94]), hard enough that 0.5 misses most positives."""
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=1500, n_features=6, n_informative=3, weights=[0.94], class_sep=0.5, random_state=1
    )
    frame = pd.DataFrame(X, columns=FEATURES)
    frame["label"] = y
    return frame


def _spec(**overrides: Any) -> Any:
    data: dict[str, Any] = {
        "name": "imbalanced",
        "training_set": {"name": "imbalanced"},
        "label": "label",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {"max_iter": 500},
        "search": {"strategy": "grid", "space": {"C": [0.1, 1.0]}},
        "cv": {"folds": 3, "seed": 0},
        "metrics": {"primary": "roc_auc", "thresholds": ["recall >= 0.5"]},
    }
    data.update(overrides)
    return load_spec(data=data)


def _split(spec: Any, frame: Any) -> tuple[Any, Any]:
    """The training rows and the held-out rows the platform drew for ``spec``."""
    from mlplatform.training.executor import HOLDOUT_COLUMN
    from mlplatform.training.prepare import prepare

    prepared = prepare(spec, frame)
    holdout = prepared.frame[HOLDOUT_COLUMN].to_numpy()
    return frame[~holdout].reset_index(drop=True), frame[holdout].reset_index(drop=True)


def _reference(spec: Any, params: dict[str, Any], rows: Any, scoring: Any) -> Any:
    """scikit-learn's TunedThresholdClassifierCV on the same rows, folds and parameters."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import TunedThresholdClassifierCV

    from mlplatform.training.prepare import cv_splits

    estimator = LogisticRegression(**{**spec.params, **params})
    return TunedThresholdClassifierCV(estimator, scoring=scoring, cv=cv_splits(spec)).fit(rows[FEATURES], rows["label"])


def _registered(settings: Any, name: str, tmp_path: Path) -> tuple[Any, Any]:
    """The registered challenger's version info and its unpickled model.pkl."""
    import cloudpickle

    from mlplatform.tracking.model_registry import download, resolve

    info = resolve(f"{name}@challenger", settings)
    model_dir = download(info, tmp_path / f"{name}-model", settings)
    return info, cloudpickle.loads((Path(model_dir) / "model.pkl").read_bytes())


def _client(settings: Any) -> Any:
    from mlflow import MlflowClient

    from mlplatform.tracking.store import configure

    configure(settings)
    return MlflowClient()


def test_f1_threshold_equals_sklearn_and_clears_a_recall_bar_that_0_5_misses(
    spark, imbalanced, settings, tmp_path
) -> None:
    from click.testing import CliRunner
    from sklearn import metrics as skm

    from mlplatform.cli.main import cli
    from mlplatform.tracking.model_registry import TAG_DECISION, TAG_DECISION_THRESHOLD

    spec = _spec()
    assert spec.decision is not None and spec.decision.rule == "f1"  # the default
    result = train(spec, settings=settings, spark=spark, data=TrainingData(imbalanced), code_version="t")
    train_rows, held_out = _split(spec, imbalanced)
    reference = _reference(spec, result.best_params, train_rows, "f1")

    assert result.decision.rule == "f1"
    assert result.decision.threshold == pytest.approx(reference.best_threshold_, abs=1e-12)
    assert result.decision.cv_score == pytest.approx(reference.best_score_, abs=1e-12)
    assert result.decision.threshold < 0.3  # far from 0.5 on a 6% problem

    # the registered model predicts proba[:, 1] >= threshold, as the reference does, and keeps predict_proba
    info, model = _registered(settings, "imbalanced", tmp_path)
    X, y = held_out[FEATURES], held_out["label"]
    proba = model.predict_proba(X)
    np.testing.assert_array_equal(model.predict(X), (proba[:, 1] >= result.decision.threshold).astype(int))
    np.testing.assert_array_equal(model.predict(X), reference.predict(X))
    np.testing.assert_allclose(proba, reference.predict_proba(X), rtol=0, atol=1e-12)

    # held-out metrics at the threshold, the threshold-free ones beside them, the untuned ones for comparison
    tuned = reference.predict(X)
    expected = {
        "recall": skm.recall_score(y, tuned),
        "precision": skm.precision_score(y, tuned),
        "f1": skm.f1_score(y, tuned),
        "accuracy": skm.accuracy_score(y, tuned),
        "roc_auc": skm.roc_auc_score(y, proba[:, 1]),
        "average_precision": skm.average_precision_score(y, proba[:, 1]),
        "brier": skm.brier_score_loss(y, proba[:, 1]),
        "log_loss": skm.log_loss(y, proba),
    }
    for name, value in expected.items():
        assert result.holdout_metrics[name] == pytest.approx(value, abs=1e-12), name
    plain_recall = skm.recall_score(y, reference.estimator_.predict(X))
    assert result.untuned_metrics["recall"] == pytest.approx(plain_recall, abs=1e-12)
    assert plain_recall < 0.5 <= result.holdout_metrics["recall"]  # the bar: missed at 0.5, met when tuned
    assert result.version == 1 and not result.misses

    # recorded with the run and the model version, shown by `mlp models describe`
    assert float(info.tags[TAG_DECISION_THRESHOLD]) == result.decision.threshold
    recorded = json.loads(info.tags[TAG_DECISION])
    assert recorded["rule"] == "f1" and recorded["threshold"] == result.decision.threshold
    run = _client(settings).get_run(result.run_id)
    assert float(run.data.params["decision_threshold"]) == result.decision.threshold
    assert run.data.metrics["decision_threshold"] == pytest.approx(result.decision.threshold)
    assert run.data.metrics["holdout_untuned_recall"] == pytest.approx(plain_recall)
    shown = CliRunner().invoke(cli, ["models", "describe", "imbalanced"])
    assert shown.exit_code == 0, shown.output
    assert f"decision threshold of version 1: {result.decision.threshold:.4f} (tuned for f1" in shown.output
    header, row = shown.output.splitlines()[-2:]
    assert "threshold" in header.split() and f"{result.decision.threshold:.4f}" in row.split()


def test_isotonic_calibration_equals_sklearn_and_is_plotted(spark, imbalanced, settings, tmp_path) -> None:
    """calibration: isotonic: every trial and the refit fit CalibratedClassifierCV; the threshold is tuned on it."""
    from sklearn import metrics as skm
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import TunedThresholdClassifierCV

    from mlplatform.training.prepare import cv_splits

    spec = _spec(calibration="isotonic", search={"strategy": "grid", "space": {"C": [1.0]}})
    assert spec.calibration is not None and spec.calibration.folds == 3
    result = train(spec, settings=settings, spark=spark, data=TrainingData(imbalanced), code_version="t")
    train_rows, held_out = _split(spec, imbalanced)
    calibrated = CalibratedClassifierCV(LogisticRegression(max_iter=500, C=1.0), method="isotonic", cv=3)
    reference = TunedThresholdClassifierCV(calibrated, scoring="f1", cv=cv_splits(spec)).fit(
        train_rows[FEATURES], train_rows["label"]
    )
    assert result.decision.threshold == pytest.approx(reference.best_threshold_, abs=1e-12)

    info, model = _registered(settings, "imbalanced", tmp_path)
    X, y = held_out[FEATURES], held_out["label"]
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba, reference.predict_proba(X), rtol=0, atol=1e-12)
    assert result.holdout_metrics["brier"] == pytest.approx(skm.brier_score_loss(y, proba[:, 1]), abs=1e-12)
    run = _client(settings).get_run(info.run_id)
    assert run.data.params["calibration"] == "isotonic, 3 folds"
    artifacts = {f.path for f in _client(settings).list_artifacts(info.run_id, "plots")}
    assert "plots/reliability.png" in artifacts


def test_without_a_decision_the_same_recall_bar_is_missed(spark, imbalanced, settings) -> None:
    result = train(
        _spec(decision=None), settings=settings, spark=spark, data=TrainingData(imbalanced), code_version="t"
    )
    assert result.decision is None and result.untuned_metrics == {}
    assert result.version is None and len(result.misses) == 1 and result.misses[0].startswith("recall = ")


@pytest.mark.slow
def test_fixed_threshold_is_used_as_is_by_batch_scoring_and_the_server(spark, imbalanced, settings, tmp_path) -> None:
    from sklearn.linear_model import LogisticRegression

    from mlplatform.scoring import batch, results, server

    spec = _spec(search={"strategy": "grid", "space": {"C": [1.0]}}, decision={"fixed": 0.3}, metrics={})
    result = train(spec, settings=settings, spark=spark, data=TrainingData(imbalanced), code_version="t")
    assert result.decision.rule == "fixed" and result.decision.threshold == 0.3
    info, model = _registered(settings, "imbalanced", tmp_path)
    assert model.threshold == 0.3

    train_rows, held_out = _split(spec, imbalanced)
    plain = LogisticRegression(max_iter=500, C=1.0).fit(train_rows[FEATURES], train_rows["label"])
    expected = (plain.predict_proba(held_out[FEATURES])[:, 1] >= 0.3).astype(int)
    assert 0 < expected.sum() and not np.array_equal(expected, plain.predict(held_out[FEATURES]))

    # batch scoring (mapInArrow): the probe finds predict_proba and the classes on the wrapped model
    rows = held_out[FEATURES].assign(row_id=np.arange(len(held_out)))
    uri = f"{settings.warehouse}/inputs/imbalanced"
    spark.createDataFrame(rows).write.format("delta").save(uri)
    batch.score(spark, settings, "imbalanced@challenger", uri, "2024-06-30", keys=["row_id"])
    scores = results.read("imbalanced", run_date="2024-06-30").sort_values("row_id")
    np.testing.assert_array_equal(scores["prediction"].to_numpy(), expected)
    np.testing.assert_allclose(
        scores["probability"].to_numpy(), plain.predict_proba(held_out[FEATURES])[:, 1], rtol=0, atol=1e-12
    )

    # the scoring server answers with the same predictions
    model_path = tmp_path / "imbalanced-model" / "model.pkl"
    app = server.ScoringApp(
        server.ServingConfig("imbalanced", 1, None, model_path, "predict", None), server.load_model(model_path)
    )
    body = json.dumps({"dataframe_split": json.loads(held_out[FEATURES].to_json(orient="split", index=False))}).encode()
    answer = json.loads(post(app, body)[1])
    assert answer["predictions"] == expected.tolist()


@pytest.mark.parametrize(
    "decision",
    [{"cost": {"fp": 1, "fn": 5}}, {"objective": "balanced_accuracy"}],
    ids=["cost", "balanced_accuracy"],
)
def test_objectives_match_sklearn(spark, imbalanced, settings, decision) -> None:
    from sklearn.metrics import confusion_matrix, make_scorer

    def cost(y_true: Any, y_pred: Any) -> float:
        _, fp, fn, _ = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
        return fp * 1 + fn * 5

    spec = _spec(search={"strategy": "grid", "space": {"C": [1.0]}}, decision=decision, metrics={})
    result = train(spec, settings=settings, spark=spark, data=TrainingData(imbalanced), code_version="t")
    scoring = make_scorer(cost, greater_is_better=False) if "cost" in decision else "balanced_accuracy"
    train_rows, _ = _split(spec, imbalanced)
    reference = _reference(spec, result.best_params, train_rows, scoring)
    assert result.decision.threshold == pytest.approx(reference.best_threshold_, abs=1e-12)
    if "cost" in decision:  # reported as the mean cost per fold (the scorer's value with its sign turned back)
        assert result.decision.rule == "cost" and result.decision.costs == {"fp": 1.0, "fn": 5.0}
        assert result.decision.cv_score == pytest.approx(-reference.best_score_, abs=1e-9)
    else:
        assert result.decision.cv_score == pytest.approx(reference.best_score_, abs=1e-12)


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        ({"fixed": 0}, "'decision.fixed': Input should be greater than 0"),
        ({"fixed": 1.5}, "'decision.fixed': Input should be less than 1"),
        ({"cost": {"fp": 0, "fn": 5}}, "'decision.cost.fp': Input should be greater than 0"),
        ({"cost": {"fp": 1, "fn": -2}}, "'decision.cost.fn': Input should be greater than 0"),
        ({"cost": {"fp": 1}}, "missing key 'decision.cost.fn'"),
        ({"objective": "precision"}, "'decision.objective': Input should be 'f1', 'balanced_accuracy' or 'cost'"),
        ({"objective": "f1", "fixed": 0.3}, "give either fixed .* or an objective/cost to tune for, not both"),
        ({"objective": "cost"}, "objective cost needs the costs, e.g. cost: {fp: 1, fn: 5}"),
        ({"objective": "f1", "cost": {"fp": 1, "fn": 5}}, "cost is given but the objective is f1"),
        ({"treshold": 0.3}, "unknown key 'decision.treshold'"),
    ],
)
def test_bad_decision_blocks_are_refused(spec_dict, decision, message) -> None:
    with pytest.raises(TrainingError, match=message) as info:
        load_spec(data=spec_dict(decision=decision))
    assert info.value.message.startswith("model spec 'toy': ") and "conf/models/churn.yaml" in (info.value.hint or "")


def test_decision_on_a_regressor_or_a_multiclass_label_names_the_model(spec_dict, frame, settings) -> None:
    regressor = load_spec(data=spec_dict(estimator="sklearn.tree.DecisionTreeRegressor", decision={"objective": "f1"}))
    with pytest.raises(TrainingError, match="model 'toy': decision thresholds apply to binary classifiers") as info:
        train(regressor, settings=settings, data=TrainingData(frame), profile=NO_SPARK)
    assert "DecisionTreeRegressor is not a classifier" in info.value.message
    assert "remove the decision block" in (info.value.hint or "")

    three = frame.assign(label=np.arange(len(frame)) % 3)
    with pytest.raises(TrainingError, match="label 'label' has 3 classes") as info:
        train(
            load_spec(data=spec_dict(decision={"fixed": 0.4})),
            settings=settings,
            data=TrainingData(three),
            profile=NO_SPARK,
        )
    assert "its decision block" in (info.value.hint or "")


def test_fixed_threshold_needs_probabilities_and_an_env_with_sklearn_1_5(spec_dict, frame, settings) -> None:
    from mlplatform.training.train import _check_env_decision

    svm = load_spec(
        data=spec_dict(
            estimator="sklearn.svm.LinearSVC",
            params={},
            search={"strategy": "grid", "space": {"C": [1.0]}},
            decision={"fixed": 0.3},
        )
    )
    with pytest.raises(
        TrainingError, match="decision fixed 0.3 is a probability, but sklearn.svm.LinearSVC has no predict_proba"
    ):
        train(svm, settings=settings, data=TrainingData(frame), profile=NO_SPARK)

    old = SimpleNamespace(id="env:old@000000000000", packages={"scikit-learn": "1.4.2"})
    with pytest.raises(TrainingError, match="needs scikit-learn >= 1.5 .* env:old@000000000000 has scikit-learn 1.4.2"):
        _check_env_decision(load_spec(data=spec_dict()), old)
    _check_env_decision(load_spec(data=spec_dict(decision=None)), old)  # no threshold: any version
    _check_env_decision(
        load_spec(data=spec_dict()), SimpleNamespace(id="env:new@0", packages={"scikit-learn": "1.7.2"})
    )


def test_a_constant_model_keeps_its_own_predict_unless_the_spec_names_a_decision(
    spark, spec_dict, frame, settings, caplog
) -> None:
    from sklearn.dummy import DummyClassifier
    from sklearn.model_selection import TunedThresholdClassifierCV

    dummy = {
        "estimator": "sklearn.dummy.DummyClassifier",
        "params": {"random_state": 0},
        "search": {"strategy": "grid", "space": {"strategy": ["uniform"]}},
        "metrics": {"primary": "roc_auc"},
    }
    spec = load_spec(data=spec_dict(**dummy))
    with pytest.raises(ValueError, match="constant predictions"):  # scikit-learn refuses to tune it too
        TunedThresholdClassifierCV(DummyClassifier(strategy="uniform")).fit(frame[FEATURES], frame["label"])
    with caplog.at_level("WARNING", logger="mlplatform.training.runner"):
        result = train(spec, settings=settings, spark=spark, data=TrainingData(frame), code_version="t")
    assert result.decision is None and result.version == 1
    assert any("no threshold can be tuned" in r.getMessage() for r in caplog.records)

    named = load_spec(data=spec_dict(**dummy, decision={"objective": "f1"}))
    with pytest.raises(TrainingError, match="model 'toy': the decision threshold of trial 0 cannot be tuned") as info:
        train(named, settings=settings, spark=spark, data=TrainingData(frame), code_version="t")
    assert "decision: {fixed: 0.5}" in (info.value.hint or "")
