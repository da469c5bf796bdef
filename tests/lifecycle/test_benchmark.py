"""Champion vs challenger on one holdout, evaluated in a separate interpreter; the report everywhere."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient
from sklearn.metrics import recall_score, roc_auc_score

from mlplatform import registry, tables
from mlplatform.lifecycle.benchmark import benchmarks_table, history, run_benchmark
from mlplatform.lineage.graph import load_graph

from .toys import FEATURES, fit


def bench(settings, champion: int, challenger: int, holdout, margin: float = 0.01):
    return run_benchmark(
        registry.resolve(f"churn@{champion}", settings),
        registry.resolve(f"churn@{challenger}", settings),
        holdout,
        "ts:churn_holdout@v0",
        "label",
        settings,
        margin=margin,
        run_date="2026-05-01",
        job_run="test-run",
    )


def test_better_challenger_wins_with_metrics_equal_to_sklearn(register, toy_data, settings):
    train, holdout = toy_data
    bad, good = fit("bad", train), fit("good", train)
    register("churn", bad, train)
    register("churn", good, train)
    report = bench(settings, 1, 2, holdout)
    assert report.decision.promote and report.verdict == "promoted"
    # independent reference: the same fitted estimators scored here with scikit-learn
    for est, ev in ((bad, report.champion), (good, report.challenger)):
        assert ev.metrics["roc_auc"] == pytest.approx(roc_auc_score(holdout["label"], est.predict_proba(holdout[FEATURES])[:, 1]), abs=1e-12)
        assert ev.metrics["recall"] == pytest.approx(recall_score(holdout["label"], est.predict(holdout[FEATURES])), abs=1e-12)
        assert ev.rows == len(holdout)
    # the model was unpickled in another interpreter, not in this process
    assert report.challenger.environment["executable"]

    client = MlflowClient()
    run = client.get_run(report.mlflow_run_id)
    assert run.data.tags["mlp.decision"] == "promoted"
    assert run.data.metrics["challenger_roc_auc"] == pytest.approx(report.challenger.metrics["roc_auc"])
    assert run.data.metrics["champion_roc_auc"] == pytest.approx(report.champion.metrics["roc_auc"])
    logged = {f.path for f in client.list_artifacts(report.mlflow_run_id, "benchmark")}
    assert logged == {"benchmark/roc.png", "benchmark/report.json", "benchmark/report.md"}
    body = json.loads(open(client.download_artifacts(report.mlflow_run_id, "benchmark/report.json")).read())
    assert body["decision"] == "promoted" and body["champion"]["model"] == "model:churn@1"

    (row,) = history(settings, model="churn")
    assert (row["champion_version"], row["challenger_version"], row["decision"], row["run_date"]) == (1, 2, "promoted", "2026-05-01")
    assert tables.to_pandas(benchmarks_table(settings))["benchmark_id"].tolist() == [report.benchmark_id]

    walk = load_graph(settings).walk(report.benchmark_id)
    assert walk.upstream_ids() == {"model:churn@1", "model:churn@2", "ts:churn_holdout@v0"}


def test_worse_challenger_is_kept_and_the_report_says_why(register, toy_data, settings):
    train, holdout = toy_data
    register("churn", fit("good", train), train)
    register("churn", fit("bad", train), train)
    report = bench(settings, 1, 2, holdout)
    assert not report.decision.promote
    assert any("below the margin" in r for r in report.decision.reasons)
    assert any("needs roc_auc >= 0.7" in r for r in report.decision.reasons)
    assert history(settings, model="churn")[0]["decision"] == "kept"


def test_holdout_missing_a_model_column_is_refused(register, toy_data, settings):
    train, holdout = toy_data
    register("churn", fit("good", train), train)
    register("churn", fit("good", train), train)
    with pytest.raises(Exception, match="lacks column"):
        bench(settings, 1, 2, holdout.drop(columns=["f3"]))
    assert history(settings, model="churn") == []
