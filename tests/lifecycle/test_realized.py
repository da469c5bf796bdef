"""Realized performance and retraining triggers on real Delta tables and a real MLflow registry (no Spark).

The scores table is written as the scoring job lays it out (keys, as_of, prediction,
probability, model_version, run_date); the labels are the churn spec's label table.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from .toys import DEFINITIONS, FEATURES, fit

DAYS = [date(2024, 10, 31), date(2024, 11, 15), date(2024, 11, 30)]
ENTITIES = 300


def _as_of(day: date) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)


def _scores_and_labels(model, version: int, holdout: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores of three run dates; labels at 00:00 on the 1st of the month: they judge the month's last run only."""
    rng = np.random.default_rng(seed)
    frames, labels = [], []
    for day in DAYS:
        rows = holdout.sample(ENTITIES, random_state=int(rng.integers(1_000_000))).reset_index(drop=True)
        rows["customer_id"] = np.arange(ENTITIES, dtype="int64")
        proba = model.predict_proba(rows[FEATURES])[:, 1]
        frames.append(
            pd.DataFrame({
                "customer_id": rows["customer_id"],
                "as_of": _as_of(day),
                "prediction": (proba >= 0.5).astype("int64"),
                "probability": proba,
                "model_version": np.int32(version),
                "run_date": day,
            })
        )  # fmt: skip
        label_time = pd.Timestamp(day + timedelta(days=1), tz="UTC")
        known = rows.sample(frac=0.8, random_state=int(rng.integers(1_000_000)))  # 20% of labels not landed yet
        labels.append(
            pd.DataFrame({"customer_id": known["customer_id"], "label_time": label_time, "churned": known["label"]})
        )
    return pd.concat(frames, ignore_index=True), pd.concat(labels, ignore_index=True)


def _write(settings, scores: pd.DataFrame, labels: pd.DataFrame) -> None:
    from mlplatform import tables

    tables.write_pandas(scores, tables.table_uri(settings, "scores", "churn"), mode="overwrite")
    tables.write_pandas(labels, tables.resolve_name(settings, "raw/churn_labels"), mode="overwrite")


def _reference_join(scores: pd.DataFrame, labels: pd.DataFrame, window: pd.Timedelta) -> pd.DataFrame:
    """Per label, by brute force: the latest score of its customer with label_time - window <= as_of <= label_time."""
    out = []
    for label in labels.itertuples():
        mine = scores[
            (scores["customer_id"] == label.customer_id)
            & (scores["as_of"] <= label.label_time)
            & (scores["as_of"] >= label.label_time - window)
        ]
        if len(mine):
            best = mine.sort_values("as_of").iloc[-1]
            out.append({**best.to_dict(), "churned": label.churned})
    return pd.DataFrame(out)


def test_realized_performance_equals_sklearn_on_the_joined_rows(settings, register, toy_data, mlp):
    from mlplatform.lifecycle.realized import measure
    from mlplatform.monitoring.performance import read_performance

    train, holdout = toy_data
    good = fit("good", train)
    version = register("churn", good, train, definitions={**DEFINITIONS, "thresholds": ["roc_auc >= 0.7", "f1 >= 0.5"]})
    scores, labels = _scores_and_labels(good, version, holdout)
    _write(settings, scores, labels)

    measured = measure("churn", settings, timedelta(days=1))
    stored = read_performance(settings, "churn")
    assert len(stored) == len(measured) == 2 * len(DAYS)  # roc_auc and f1 for each judged run date
    reference = _reference_join(scores, labels, pd.Timedelta(days=1))
    assert len(reference) == 3 * int(ENTITIES * 0.8)  # each label judges exactly its month-end run
    for day in DAYS:
        rows = reference[reference["run_date"] == day]
        got = stored[stored["run_date"] == day.isoformat()].set_index("metric")
        assert got.loc["roc_auc", "value"] == pytest.approx(
            skm.roc_auc_score(rows["churned"], rows["probability"]), abs=1e-12
        )
        assert got.loc["f1", "value"] == pytest.approx(skm.f1_score(rows["churned"], rows["prediction"]), abs=1e-12)
        assert (got["labelled_rows"] == len(rows)).all() and (got["rows"] == ENTITIES).all()
        assert got.loc["roc_auc", "threshold"] == "roc_auc >= 0.7" and set(got["status"]) == {"ok"}

    shown = mlp(["monitor", "performance", "churn", "--json"])
    assert shown.returncode == 0, shown.stderr
    assert sorted((r["run_date"], r["metric"], r["value"]) for r in json.loads(shown.stdout)) == sorted(
        zip(stored["run_date"], stored["metric"], stored["value"])
    )

    # a window too short for the month-end run: nothing is judged, the table empties for the model
    assert measure("churn", settings, timedelta(microseconds=0)) == []
    assert read_performance(settings, "churn").empty


def test_a_metric_under_its_threshold_is_an_alert_and_fires_the_performance_trigger(settings, register, toy_data, mlp):
    from mlplatform.lifecycle.gates import TriggerPolicy
    from mlplatform.lifecycle.realized import measure
    from mlplatform.lifecycle.triggers import evaluate, record_fired

    train, holdout = toy_data
    bad = fit("bad", train)
    version = register("churn", bad, train)
    scores, labels = _scores_and_labels(bad, version, holdout, seed=1)
    _write(settings, scores, labels)
    measured = measure("churn", settings, timedelta(days=1))
    assert {(m.metric, m.status) for m in measured} == {("roc_auc", "alert")}

    policy = TriggerPolicy(drift=None)
    # run dates before the first judged one: no evidence yet
    assert not evaluate(settings, "churn", version, DAYS[0] - timedelta(days=1), policy).signals
    check = evaluate(settings, "churn", version, DAYS[-1], policy)
    assert check.fired and check.signals[0].startswith(f"realized performance on {DAYS[-1]}")
    assert "needs roc_auc >= 0.7" in check.reason

    from mlplatform.lifecycle import models

    models.promote("churn", version, settings)
    shown = mlp(["monitor", "triggers", "churn", "--run-date", DAYS[-1].isoformat()])
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [f"trigger fired for model:churn@{version}:", f"  {check.signals[0]}"]

    # once a triggered retrain is recorded, the cooldown holds the next nights, then lets go
    record_fired(settings, check, "job-1", f"model:churn@{version}")
    held = evaluate(settings, "churn", version, DAYS[-1] + timedelta(days=1), policy)
    assert held.signals and not held.fired and f"a triggered retrain on {DAYS[-1]}" in held.cooldown
    assert evaluate(settings, "churn", version, DAYS[-1] + timedelta(days=policy.cooldown_days), policy).fired
    assert not evaluate(settings, "churn", version, DAYS[-1], TriggerPolicy(drift=None, performance=False)).signals


def _drift_rows(settings, version: int, day: date, psi: dict[str, float]) -> None:
    """Drift rows as the monitoring store keeps them, with the given PSI per feature (others 0)."""
    from mlplatform import tables
    from mlplatform.monitoring.store import DRIFT_COLUMNS, drift_table

    rows = [
        {"model": "churn", "version": str(version), "run_date": day.isoformat(), "feature": name, "source": "batch",
         "role": "feature" if name != "prediction" else "prediction", "psi": value, "status": "ok"}
        for name, value in psi.items()
    ]  # fmt: skip
    frame = pd.DataFrame(rows).reindex(columns=DRIFT_COLUMNS)
    frame = frame.astype({c: "string" for c in ("model", "version", "run_date", "feature", "source", "role", "status")})
    frame["psi"] = frame["psi"].astype("float64")
    other = [c for c in DRIFT_COLUMNS if c not in rows[0]]
    frame[other] = frame[other].astype("float64")
    tables.write_pandas(frame, drift_table(settings), mode="append")


def test_the_drift_trigger_counts_features_over_the_bar_on_the_latest_run(settings):
    from mlplatform.lifecycle.gates import DriftTrigger, TriggerPolicy
    from mlplatform.lifecycle.triggers import evaluate

    policy = TriggerPolicy(drift=DriftTrigger(psi=0.25, features=2), performance=False)
    _drift_rows(settings, 3, date(2024, 11, 1), {"a": 0.5, "b": 0.3, "c": 0.01})
    _drift_rows(settings, 3, date(2024, 11, 2), {"a": 0.5, "b": 0.1, "c": 0.01})
    _drift_rows(settings, 4, date(2024, 11, 3), {"a": 0.9, "b": 0.9, "c": 0.9})  # another version

    fired = evaluate(settings, "churn", 3, date(2024, 11, 1), policy)
    assert fired.fired and fired.signals == ("drift on 2024-11-01: PSI >= 0.25 on 2 feature(s) (a 0.500, b 0.300)",)
    # the latest run measured up to the run date counts: one drifted feature is not enough
    assert not evaluate(settings, "churn", 3, date(2024, 11, 5), policy).signals
    assert evaluate(settings, "churn", 3, date(2024, 11, 5), TriggerPolicy(drift=DriftTrigger(features=1))).fired
    # a drifted prediction fires on its own
    _drift_rows(settings, 3, date(2024, 11, 6), {"a": 0.0, "prediction": 0.4})
    alone = evaluate(settings, "churn", 3, date(2024, 11, 6), policy)
    assert alone.fired and "and 1 output(s)" in alone.signals[0]
    outputs_off = TriggerPolicy(drift=DriftTrigger(outputs=False), performance=False)
    assert not evaluate(settings, "churn", 3, date(2024, 11, 6), outputs_off).signals


def test_lifecycle_config_names_the_bad_trigger_key(tmp_path):
    from mlplatform.errors import LifecycleError
    from mlplatform.lifecycle.gates import load_config

    for body, expected in (
        ({"default": {"retrain_on": "drift"}}, "retrain_on"),
        ({"default": {"triggers": {"drift": {"psi": -1}}}}, "psi"),
        ({"default": {"label_window": "soon"}}, "label_window"),
        ({"default": {"triggers": {"cooldown": 3}}}, "cooldown"),
    ):
        path = tmp_path / "lifecycle.yaml"
        path.write_text(json.dumps(body))
        with pytest.raises(LifecycleError, match=expected) as err:
            load_config(path)
        assert "known keys" in err.value.render()
