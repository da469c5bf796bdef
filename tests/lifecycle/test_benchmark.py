"""Champion vs challenger on one holdout, evaluated in a separate interpreter; the report everywhere."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient
from sklearn.metrics import recall_score, roc_auc_score

from mlplatform import tables
from mlplatform.lifecycle.benchmark import benchmarks_table, history, run_benchmark
from mlplatform.lineage.graph import load_graph
from mlplatform.tracking import model_registry

from .toys import FEATURES, fit

REPO = Path(__file__).resolve().parents[2]


def bench(settings, champion: int, challenger: int, holdout, margin: float = 0.01):
    return run_benchmark(
        model_registry.resolve(f"churn@{champion}", settings),
        model_registry.resolve(f"churn@{challenger}", settings),
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
        assert ev.metrics["roc_auc"] == pytest.approx(
            roc_auc_score(holdout["label"], est.predict_proba(holdout[FEATURES])[:, 1]), abs=1e-12
        )
        assert ev.metrics["recall"] == pytest.approx(
            recall_score(holdout["label"], est.predict(holdout[FEATURES])), abs=1e-12
        )
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
    assert (row["champion_version"], row["challenger_version"], row["decision"], row["run_date"]) == (
        1,
        2,
        "promoted",
        "2026-05-01",
    )
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


FIT_IN_ENV = """
import json, sys, pickle
import cloudpickle, pyarrow as pa, sklearn
from sklearn.linear_model import LogisticRegression
train = pa.ipc.open_stream(open(sys.argv[1], "rb").read()).read_all().to_pandas()
holdout = pa.ipc.open_stream(open(sys.argv[2], "rb").read()).read_all().to_pandas()
features = [c for c in train.columns if c.startswith("f")]
y = train["label"] if sys.argv[3] == "good" else train["label"].sample(frac=1.0, random_state=1).to_numpy()
model = LogisticRegression(max_iter=500).fit(train[features], y)
open(sys.argv[4], "wb").write(cloudpickle.dumps(model))
json.dump({"sklearn": sklearn.__version__, "example": model.predict(train[features].head(3)).tolist(),
           "proba": model.predict_proba(holdout[features])[:, 1].tolist()}, open(sys.argv[5], "w"))
"""


@pytest.mark.slow
def test_each_model_is_evaluated_inside_its_own_environment(toy_data, settings, tmp_path, monkeypatch):
    """Models fitted in the demo env (scikit-learn 1.7.2, not the driver's) are unpickled and scored only there."""
    import sklearn
    from mlflow import MlflowClient

    from mlplatform import envs
    from mlplatform.config import load_settings
    from mlplatform.tracking.model_registry import TAG_ENV_ID, TAG_METRICS
    from mlplatform.tracking.store import configure, experiment_id
    from mlplatform.training.executor import encode_frame
    from mlplatform.training.modeldir import write_model_dir

    from .toys import DEFINITIONS

    cache = REPO / ".mlp" / "test-cache" / "training-envs" / "home"  # shared with the training tests
    with monkeypatch.context() as mp:
        mp.setenv("MLP_HOME", str(cache))
        artifact = envs.build("sklearn", load_settings())
    monkeypatch.setenv("MLP_ARTIFACTS", str(cache / "artifacts"))
    settings = load_settings()
    python = envs.unpack(artifact, settings) / "bin" / "python"
    train, holdout = toy_data
    (tmp_path / "train.arrows").write_bytes(encode_frame(train))
    (tmp_path / "holdout.arrows").write_bytes(encode_frame(holdout))
    configure(settings)
    client = MlflowClient()
    client.create_registered_model("churn")
    probas = {}
    for kind in ("bad", "good"):
        out = tmp_path / f"{kind}.json"
        pkl = tmp_path / f"{kind}.pkl"
        subprocess.run(
            [
                str(python),
                "-c",
                FIT_IN_ENV,
                str(tmp_path / "train.arrows"),
                str(tmp_path / "holdout.arrows"),
                kind,
                str(pkl),
                str(out),
            ],
            check=True,
        )
        fitted = json.loads(out.read_text())
        assert fitted["sklearn"] == artifact.packages["scikit-learn"] != sklearn.__version__
        probas[kind] = fitted["proba"]
        run = client.create_run(experiment_id("churn", settings))
        folder = write_model_dir(
            tmp_path / f"model-{kind}",
            pkl.read_bytes(),
            train[FEATURES].head(3),
            fitted["example"],
            fitted["sklearn"],
            "3.11",
            [f"scikit-learn=={fitted['sklearn']}"],
        )
        client.log_artifacts(run.info.run_id, str(folder), "model")
        client.create_model_version(
            "churn",
            f"{run.info.artifact_uri}/model",
            run.info.run_id,
            tags={TAG_ENV_ID: artifact.id, TAG_METRICS: json.dumps(DEFINITIONS)},
        )

    report = bench(settings, 1, 2, holdout)
    assert report.decision.promote
    for ev, kind in ((report.champion, "bad"), (report.challenger, "good")):
        assert ev.environment["packages"]["scikit-learn"] == artifact.packages["scikit-learn"]
        assert ev.environment["executable"] == str(python)
        assert ev.metrics["roc_auc"] == pytest.approx(roc_auc_score(holdout["label"], probas[kind]), abs=1e-12)
