"""Bad input fails with a TrainingError naming the problem, before any Spark job runs."""

from __future__ import annotations

import pytest

from mlplatform.errors import TrainingError
from mlplatform.training.spec import Threshold, load_spec
from mlplatform.training.train import TrainingData, check_thresholds, train

# A profile that does not exist: reaching Spark would raise SparkSetupError, not TrainingError.
NO_SPARK = "no-such-profile"


def _fails_before_spark(spec, frame, settings, match: str) -> TrainingError:
    with pytest.raises(TrainingError, match=match) as info:
        train(spec, settings=settings, data=TrainingData(frame), profile=NO_SPARK)
    return info.value


def test_unknown_estimator_path(make_spec, frame, settings):
    err = _fails_before_spark(make_spec(estimator="sklearn.tree.NoSuchTree"), frame, settings, "NoSuchTree")
    assert "cannot be loaded" in err.message and "dotted path" in (err.hint or "")


def test_unknown_estimator_module(make_spec, frame, settings):
    _fails_before_spark(make_spec(estimator="nosuchpackage.Model"), frame, settings, "No module named 'nosuchpackage'")


def test_parameter_the_estimator_does_not_accept(make_spec, frame, settings):
    spec = make_spec(search={"strategy": "grid", "space": {"max_dept": [2, 4]}})
    err = _fails_before_spark(spec, frame, settings, "does not accept parameter")
    assert "max_dept" in err.message and "max_depth" in (err.hint or "")


def test_parameter_value_the_estimator_rejects(make_spec, frame, settings):
    spec = make_spec(search={"strategy": "grid", "space": {"criterion": ["gini", "purity"]}})
    _fails_before_spark(spec, frame, settings, "rejects parameters.*purity")


def test_empty_search_space(spec_dict):
    with pytest.raises(TrainingError, match="search space is empty"):
        load_spec(data=spec_dict(search={"strategy": "grid", "space": {}}))
    with pytest.raises(TrainingError, match="'max_depth' has an empty list"):
        load_spec(data=spec_dict(search={"strategy": "grid", "space": {"max_depth": []}}))


def test_missing_label_column(make_spec, frame, settings):
    err = _fails_before_spark(
        make_spec(label="churned"), frame, settings, "label column 'churned' is not in training set 'toy'"
    )
    assert "f0" in (err.hint or "")


def test_threshold_on_unknown_metric(spec_dict):
    with pytest.raises(TrainingError, match="unknown metric 'auc'.*known metrics: roc_auc"):
        load_spec(data=spec_dict(metrics={"primary": "roc_auc", "thresholds": ["auc >= 0.7"]}))
    with pytest.raises(TrainingError, match="not 'METRIC OP NUMBER'"):
        load_spec(data=spec_dict(metrics={"thresholds": ["roc_auc at least 0.7"]}))


def test_fits_per_task_below_one_is_named(spec_dict):
    with pytest.raises(TrainingError, match="search.fits_per_task") as info:
        load_spec(data=spec_dict(search={"strategy": "grid", "fits_per_task": 0, "space": {"max_depth": [2]}}))
    assert "greater than or equal to 1" in str(info.value)


def test_unknown_spec_key_is_named(spec_dict):
    with pytest.raises(TrainingError, match="unknown key 'search.trails'"):
        load_spec(data=spec_dict(search={"strategy": "random", "trails": 4, "space": {"max_depth": [2]}}))


def test_float_range_in_grid(make_spec, frame, settings):
    spec = make_spec(
        search={"strategy": "grid", "space": {"min_weight_fraction_leaf": {"type": "float", "low": 0, "high": 0.2}}}
    )
    _fails_before_spark(spec, frame, settings, "float range")


def test_label_that_is_not_binary(make_spec, frame, settings):
    three = frame.assign(label=frame.index % 3)
    _fails_before_spark(make_spec(), three, settings, "has 3 classes")


def test_spec_file_not_found_lists_known_specs():
    with pytest.raises(TrainingError, match="model spec 'nope' not found.*") as info:
        load_spec("nope")
    assert "churn" in (info.value.hint or "")


def test_threshold_misses_name_metric_value_bar_and_miss():
    bars = [Threshold("roc_auc", ">=", 0.75), Threshold("recall", ">=", 0.6), Threshold("log_loss", "<=", 0.5)]
    misses = check_thresholds(bars, {"roc_auc": 0.8, "recall": 0.52, "log_loss": 0.61})
    assert misses == [
        "recall = 0.5200, bar recall >= 0.6 (missed by 0.0800)",
        "log_loss = 0.6100, bar log_loss <= 0.5 (missed by 0.1100)",
    ]


def test_spec_hash_is_stable_and_sensitive(make_spec):
    assert make_spec().digest() == make_spec().digest()
    assert make_spec().digest() != make_spec(params={"random_state": 1}).digest()
