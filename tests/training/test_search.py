"""The search on Spark: same answer as scikit-learn, one Spark job per batch, its fits grouped into Spark tasks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from spark_jobs import job_group

from mlplatform.errors import TrainingError
from mlplatform.training.executor import FOLD_COLUMN, HOLDOUT_COLUMN
from mlplatform.training.prepare import prepare
from mlplatform.training.runner import run_refit, run_search


def test_grid_matches_gridsearchcv(spark, make_spec, frame):
    from sklearn.model_selection import GridSearchCV
    from sklearn.tree import DecisionTreeClassifier

    space = {"max_depth": [2, 3, 5, None], "min_samples_leaf": [1, 5, 20]}
    metrics = {"primary": "roc_auc", "extra": ["balanced_accuracy"]}
    spec = make_spec(search={"strategy": "grid", "space": space}, metrics=metrics)
    prepared = prepare(spec, frame)
    result, broadcaster = run_search(spark, spec, prepared)
    broadcaster.close()

    train = prepared.frame[~prepared.frame[HOLDOUT_COLUMN]].reset_index(drop=True)
    fold = train[FOLD_COLUMN].to_numpy()
    folds = [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(spec.cv.folds)]
    # the label metrics come from the probabilities' argmax and one count of the four outcomes: as sklearn's
    label_metrics = ["accuracy", "balanced_accuracy", "precision", "recall", "f1"]
    scoring = {"roc_auc": "roc_auc", **{m: m for m in label_metrics}}
    reference = GridSearchCV(DecisionTreeClassifier(random_state=0), space, cv=folds, scoring=scoring, refit="roc_auc")
    reference.fit(train[prepared.features], train["label"])

    assert result.best.params == reference.best_params_
    assert result.best.mean("roc_auc") == pytest.approx(reference.best_score_, rel=1e-12, abs=0)
    trials = sorted(result.trials, key=lambda t: t.number)
    for metric in ["roc_auc", *label_metrics]:
        ours = [t.mean(metric) for t in trials]
        np.testing.assert_allclose(ours, reference.cv_results_[f"mean_test_{metric}"], rtol=1e-12, err_msg=metric)
    np.testing.assert_allclose(
        [t.std("roc_auc") for t in trials],
        reference.cv_results_["std_test_roc_auc"],
        rtol=1e-9,
    )


def test_folds_are_the_specs_stratified_kfold(make_spec, frame):
    from sklearn.model_selection import StratifiedKFold

    prepared = prepare(make_spec(), frame)
    train = prepared.frame[~prepared.frame[HOLDOUT_COLUMN]]
    assert (
        int(prepared.frame[HOLDOUT_COLUMN].sum()) == 120
        and (prepared.frame.loc[prepared.frame[HOLDOUT_COLUMN], FOLD_COLUMN] == -1).all()
    )
    expected = np.empty(len(train), dtype=int)
    for k, (_, test) in enumerate(StratifiedKFold(3, shuffle=True, random_state=0).split(train, train["label"])):
        expected[test] = k
    assert (train[FOLD_COLUMN].to_numpy() == expected).all()


def test_tpe_sends_one_job_per_batch_with_one_task_per_trial_and_fold(spark, make_spec, frame):
    space = {
        "max_depth": {"type": "int", "low": 1, "high": 8},
        "min_samples_leaf": {"type": "int", "low": 1, "high": 30, "log": True},
    }
    spec = make_spec(search={"strategy": "tpe", "trials": 5, "parallelism": 2, "space": space}, cv={"folds": 2})
    with job_group(spark, "training-tpe-batches") as group:
        result, broadcaster = run_search(spark, spec, prepare(spec, frame))
        refit = run_refit(broadcaster, spec, result.best)
    # ceil(5 / 2) = 3 batches of 2, 2 and 1 trials x 2 folds, then the refit: one stage, one task each
    assert group.task_counts() == [[4], [4], [2], [1]]
    assert result.batches == [4, 4, 2]
    assert sorted(t.number for t in result.trials) == [0, 1, 2, 3, 4]
    assert all(len(t.fit_times) == 2 and len(t.fold_metrics["roc_auc"]) == 2 for t in result.trials)
    assert refit["kind"] == "refit" and isinstance(refit["model_bytes"], bytes)
    evaluation = refit["evaluation"]
    assert evaluation["rows"] == 120 and sum(map(sum, evaluation["confusion_matrix"]["matrix"])) == 120
    assert evaluation["roc_curve"]["fpr"][0] == 0.0 and evaluation["roc_curve"]["tpr"][-1] == 1.0
    assert [r["feature"] for r in evaluation["feature_importances"]] and len(evaluation["feature_importances"]) == 6


def test_grouped_fits_give_the_same_trials_in_fewer_spark_tasks(spark, make_spec, frame):
    from mlplatform.launch.slots import task_slots
    from mlplatform.training.runner import task_sizes

    space = {"max_depth": [2, 3, 4, 5, 6, None], "min_samples_leaf": [1, 5, 10, 20]}  # 24 trials x 3 folds
    outcomes = {}
    for given in (1, 5, None):
        spec = make_spec(search={"strategy": "grid", "space": space, "fits_per_task": given})
        with job_group(spark, f"training-grouped-{given}") as group:
            result, broadcaster = run_search(spark, spec, prepare(spec, frame))
            broadcaster.close()
        outcomes[given] = (result, group.task_counts())
    slots = task_slots(dict(spark.sparkContext.getConf().getAll()))
    assert outcomes[1][1] == [[72]] and outcomes[5][1] == [[15]]  # ceil(72 / 5): the last task holds 2 fits
    assert outcomes[None][1] == [[len(task_sizes(72, slots))]] and len(task_sizes(72, slots)) < 72 / 2
    reference = sorted(outcomes[1][0].trials, key=lambda t: t.number)
    for given in (5, None):
        result = outcomes[given][0]
        assert result.batches == [72] and result.best.params == outcomes[1][0].best.params
        trials = sorted(result.trials, key=lambda t: t.number)
        assert [t.params for t in trials] == [t.params for t in reference]
        assert [t.fold_metrics for t in trials] == [t.fold_metrics for t in reference]


def test_random_search_is_one_job_and_seeded(spark, make_spec, frame):
    space = {"max_depth": {"type": "int", "low": 1, "high": 8}, "criterion": ["gini", "entropy"]}
    spec = make_spec(search={"strategy": "random", "trials": 4, "seed": 7, "space": space})
    first, b1 = run_search(spark, spec, prepare(spec, frame))
    b1.close()
    again, b2 = run_search(spark, spec, prepare(spec, frame))
    b2.close()
    assert first.batches == [12]
    assert [t.params for t in first.trials] == [t.params for t in again.trials]
    assert not math.isnan(first.best.mean("roc_auc"))


def test_a_failing_trial_is_recorded_not_fatal(spark, make_spec, frame):
    # n_neighbors=5000 passes parameter validation but fails inside the task (more neighbours than rows).
    spec = make_spec(
        estimator="sklearn.neighbors.KNeighborsClassifier",
        params={},
        search={"strategy": "grid", "space": {"n_neighbors": [15, 5000]}},
    )
    result, broadcaster = run_search(spark, spec, prepare(spec, frame))
    broadcaster.close()
    failed = [t for t in result.trials if t.error]
    assert len(failed) == 1 and "n_neighbors" in failed[0].error
    assert failed[0].params == {"n_neighbors": 5000} and math.isnan(failed[0].mean("roc_auc"))
    assert result.best.params == {"n_neighbors": 15}


def test_training_data_is_broadcast_not_pickled_into_tasks(spark, make_spec, frame):
    import functools
    import pickle

    import pandas as pd

    from mlplatform.training.executor import run_partition
    from mlplatform.training.runner import _Broadcaster

    big = pd.concat([frame] * 20, ignore_index=True)
    spec = make_spec()
    broadcaster = _Broadcaster(spark, spec, prepare(spec, big))
    try:
        closure = pickle.dumps(functools.partial(run_partition, broadcaster.broadcast))
        assert broadcaster.size > 500_000 and len(closure) < 1_000
    finally:
        broadcaster.close()


PROBE_ESTIMATOR = """
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_info


class ThreadProbe(DecisionTreeClassifier):
    def fit(self, X, y, **kwargs):
        threads = max(pool["num_threads"] for pool in threadpool_info())
        raise RuntimeError(f"native threads during fit: {threads}")
"""


def test_each_trial_gets_the_task_slots_cores_not_every_core(spark, make_spec, frame, tmp_path, monkeypatch):
    from threadpoolctl import threadpool_info

    # the reference: this process, with numpy's BLAS loaded, starts a pool per core
    assert max(pool["num_threads"] for pool in threadpool_info()) > 1
    module = tmp_path / "mlp_thread_probe.py"
    module.write_text(PROBE_ESTIMATOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    spark.sparkContext.addPyFile(str(module))  # the Python workers import it as the executors would
    spec = make_spec(
        estimator="mlp_thread_probe.ThreadProbe", params={}, search={"strategy": "grid", "space": {"max_depth": [2, 3]}}
    )
    task_cpus = int(spark.conf.get("spark.task.cpus", "1"))
    # every trial fails by design, reporting what its fit saw
    seen = f"first error: fold 0: RuntimeError: native threads during fit: {task_cpus} "
    with pytest.raises(TrainingError, match=seen):
        run_search(spark, spec, prepare(spec, frame))
