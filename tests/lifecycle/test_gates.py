"""Promotion gates on metrics measured on one holdout."""

from __future__ import annotations

import pytest

from mlplatform.errors import LifecycleError
from mlplatform.lifecycle.gates import Gates, decide, load_config

DEFINITIONS = {
    "primary": "roc_auc",
    "higher_is_better": True,
    "thresholds": [{"metric": "roc_auc", "op": ">=", "value": 0.7}, {"metric": "recall", "op": ">=", "value": 0.5}],
}


def gates(margin: float = 0.01, definitions: dict | None = None) -> Gates:
    return Gates.from_definitions(definitions or DEFINITIONS, margin)


def test_better_challenger_passing_every_threshold_is_promoted():
    decision = decide({"roc_auc": 0.80, "recall": 0.6}, {"roc_auc": 0.82, "recall": 0.55}, gates())
    assert decision.promote
    assert all(c.passed for c in decision.checks) and len(decision.checks) == 3


def test_worse_challenger_is_kept_out_with_the_reason():
    decision = decide({"roc_auc": 0.80}, {"roc_auc": 0.78, "recall": 0.9}, gates())
    assert not decision.promote
    assert decision.reasons == [
        "challenger roc_auc = 0.7800 vs champion 0.8000: gain -0.0200 is below the margin 0.01 (higher is better)"
    ]


def test_gain_below_the_margin_is_not_enough():
    assert not decide({"roc_auc": 0.80}, {"roc_auc": 0.805, "recall": 0.9}, gates(margin=0.01)).promote
    assert decide({"roc_auc": 0.80}, {"roc_auc": 0.805, "recall": 0.9}, gates(margin=0.005)).promote


def test_a_missed_threshold_blocks_even_a_better_challenger():
    decision = decide({"roc_auc": 0.60}, {"roc_auc": 0.90, "recall": 0.4}, gates())
    assert not decision.promote
    assert decision.reasons == ["challenger recall = 0.4000 (needs recall >= 0.5, misses by 0.1000)"]


def test_a_metric_that_was_not_measured_fails_its_gate():
    decision = decide({"roc_auc": 0.6}, {"roc_auc": 0.9}, gates())
    assert not decision.promote and "not measured" in decision.reasons[0]


def test_lower_is_better_primary_metric():
    rules = Gates.from_definitions(
        {"primary": "log_loss", "higher_is_better": False, "thresholds": ["log_loss <= 0.6"]}, margin=0.02
    )
    assert decide({"log_loss": 0.50}, {"log_loss": 0.45}, rules).promote
    assert not decide({"log_loss": 0.50}, {"log_loss": 0.49}, rules).promote


def test_no_primary_metric_is_an_error():
    with pytest.raises(LifecycleError, match="no primary metric"):
        Gates.from_definitions({}, margin=0)


def test_lifecycle_config_per_model_policy(tmp_path):
    path = tmp_path / "lifecycle.yaml"
    path.write_text("default: {margin: 0.01}\nmodels:\n  churn: {margin: 0.02, holdout_days: 14}\n")
    config = load_config(path)
    assert config.policy("churn").margin == 0.02 and config.policy("churn").holdout_days == 14
    assert config.policy("other").margin == 0.01


def test_lifecycle_config_rejects_unknown_keys(tmp_path):
    path = tmp_path / "lifecycle.yaml"
    path.write_text("default: {margn: 0.01}\n")
    with pytest.raises(LifecycleError, match="default.margn"):
        load_config(path)


def test_an_explicit_config_file_must_exist(tmp_path):
    with pytest.raises(LifecycleError, match="does not exist"):
        load_config(tmp_path / "absent.yaml")


def test_holdout_window():
    from datetime import date, datetime, timezone
    from types import SimpleNamespace

    from mlplatform.lifecycle.retrain import holdout_window

    utc = timezone.utc
    window = holdout_window(date(2024, 10, 31), 45, datetime(2024, 8, 1, tzinfo=utc))
    assert (window.start, window.end) == (datetime(2024, 9, 17, tzinfo=utc), datetime(2024, 11, 1, tzinfo=utc))
    # labels the champion was trained on are never in the holdout
    window = holdout_window(date(2024, 10, 31), 45, datetime(2024, 10, 1, tzinfo=utc))
    assert window.start == datetime(2024, 10, 1, 0, 0, 0, 1, tzinfo=utc)
    # the spec's own label range narrows the window
    window = holdout_window(date(2024, 10, 31), 45, None, SimpleNamespace(start="2024-10-01", end="2024-10-15"))
    assert (window.start, window.end) == (datetime(2024, 10, 1, tzinfo=utc), datetime(2024, 10, 15, tzinfo=utc))
