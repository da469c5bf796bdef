"""Batch scoring in the session-wide local[*] Spark: results against the model run locally, reruns, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from delta_log import parquet_stats_columns, stats_columns_written
from scoring_support import FEATURES, make_frame, register_model, registered_input, write_delta

from mlplatform.errors import ModelError, ScoringError

RUN_DATE = "2024-06-30"


@pytest.fixture(scope="module")
def churn(hgb: Any, module_home: Path, spark: Any) -> dict[str, Any]:
    """An HGB classifier registered as churn_hgb@champion and a 3-file feature table of 3,000 rows."""
    return registered_input(
        module_home, spark, hgb, "churn_hgb", 3000, seed=2, files=3, tags={"mlp.env_id": "env:test@000000000000"}
    )


def _sorted(frame: pd.DataFrame, key: str = "customer_id") -> pd.DataFrame:
    return frame.sort_values(key).reset_index(drop=True)


def test_predictions_equal_the_model_run_locally(spark: Any, settings: Any, churn: dict[str, Any]) -> None:
    from mlplatform import lineage, tables
    from mlplatform.scoring import batch, results

    result = batch.score(spark, settings, "churn_hgb@champion", churn["uri"], RUN_DATE)
    frame = _sorted(churn["frame"])
    scores = _sorted(results.read("churn_hgb", run_date=RUN_DATE))

    assert result.rows == len(frame) == len(scores)
    assert scores["customer_id"].tolist() == frame["customer_id"].tolist()
    estimator = churn["model"].estimator
    np.testing.assert_array_equal(scores["prediction"].to_numpy(), estimator.predict(frame[FEATURES]))
    np.testing.assert_array_equal(scores["probability"].to_numpy(), estimator.predict_proba(frame[FEATURES])[:, 1])

    row = scores.iloc[0]
    assert (row["model_name"], row["model_version"], row["env_id"]) == ("churn_hgb", 1, "env:test@000000000000")
    assert (row["input_table"], row["input_version"]) == (churn["uri"], 0)
    assert row["scoring_run_id"] == result.run_id
    assert str(row["run_date"]) == RUN_DATE
    assert scores["scoring_run_id"].nunique() == 1 and scores["scored_at"].nunique() == 1
    assert tables.describe(result.table).partition_columns == ["run_date"]
    keys = set(scores.columns) - {"prediction", "probability", *batch.OUTPUT_COLUMNS}
    assert keys == {"customer_id", "label"}
    assert stats_columns_written(result.table) == keys  # file statistics on the keys only
    # Parquet's own row-group min/max: not on the run's one-value columns, and filters on them still find the rows
    assert parquet_stats_columns(result.table) == keys | {"prediction", "probability"}
    stored = spark.read.format("delta").load(result.table)
    assert stored.where(f"scoring_run_id = '{result.run_id}' AND model_version = 1").count() == len(frame)
    assert stored.where("model_version = 2 OR model_name = 'other'").count() == 0

    edges = tables.to_pandas(lineage.lineage_table(settings), filters=[("job_run", "=", result.run_id)])
    assert set(zip(edges["from_id"], edges["relation"], edges["to_id"])) == {
        ("model:churn_hgb@1", "model", result.scores_id),
        (f"delta:{churn['uri']}@v0", "input", result.scores_id),
        ("env:test@000000000000", "environment", result.scores_id),
    }


def test_rerun_replaces_only_its_run_date(spark: Any, settings: Any, churn: dict[str, Any]) -> None:
    from mlplatform import tables
    from mlplatform.scoring import batch, results

    first = batch.score(spark, settings, "churn_hgb@1", churn["uri"], "2024-07-01")
    other = batch.score(spark, settings, "churn_hgb@1", churn["uri"], "2024-07-02", where="customer_id < 2500")
    again = batch.score(spark, settings, "churn_hgb@1", churn["uri"], "2024-07-01")

    assert again.table_version == tables.version(first.table) > other.table_version > first.table_version
    day1 = results.read("churn_hgb", run_date="2024-07-01")
    assert len(day1) == len(churn["frame"]) and set(day1["scoring_run_id"]) == {again.run_id}
    day2 = results.read("churn_hgb", run_date="2024-07-02")
    assert len(day2) == other.rows == int((churn["frame"]["customer_id"] < 2500).sum())
    pd.testing.assert_frame_equal(
        _sorted(day1)[["customer_id", "prediction", "probability"]],
        _sorted(results.read("churn_hgb", run_date="2024-07-01", version=first.table_version))[
            ["customer_id", "prediction", "probability"]
        ],
    )
    runs = results.runs("churn_hgb")
    assert {"2024-07-01", "2024-07-02"} <= {str(d) for d in runs["run_date"]}


def test_null_features_are_scored_when_the_model_accepts_nan(spark: Any, settings: Any, churn: dict[str, Any]) -> None:
    from mlplatform.scoring import batch, results

    frame = make_frame(500, seed=3)
    frame.loc[::7, "f1"] = np.nan
    frame.loc[::11, "f3"] = np.nan
    uri = f"{settings.warehouse}/inputs/with_nulls"
    spark.createDataFrame(frame).selectExpr(
        "customer_id", "f0", "IF(isnan(f1), NULL, f1) AS f1", "f2", "IF(isnan(f3), NULL, f3) AS f3"
    ).write.format("delta").save(uri)
    batch.score(spark, settings, "churn_hgb@champion", uri, "2024-08-01")
    scores = _sorted(results.read("churn_hgb", run_date="2024-08-01"))
    expected = churn["model"].estimator.predict_proba(_sorted(frame)[FEATURES])[:, 1]
    np.testing.assert_array_equal(scores["probability"].to_numpy(), expected)


def test_null_features_are_refused_by_a_model_without_nan_support(
    spark: Any, settings: Any, churn: dict[str, Any]
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlplatform import tables
    from mlplatform.scoring import batch

    train = make_frame(400, seed=4)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(train[FEATURES], train["label"])
    register_model(settings, "churn_lr", model, train[FEATURES].head(5))
    clean = batch.score(spark, settings, "churn_lr", churn["uri"], RUN_DATE)
    with pytest.raises(ScoringError) as err:
        batch.score(spark, settings, "churn_lr", f"{settings.warehouse}/inputs/with_nulls", RUN_DATE)
    message = str(err.value)
    assert "f1: 72" in message and "f3: 46" in message and "does not accept missing values" in message
    assert "nothing was written" in message
    assert tables.version(clean.table) == clean.table_version


def test_regressor_multiclass_and_string_classes(spark: Any, settings: Any, churn: dict[str, Any]) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import Ridge

    from mlplatform.scoring import batch, results

    train = make_frame(600, seed=5)
    frame = _sorted(churn["frame"])
    ridge = Ridge().fit(train[FEATURES], train["f0"] * 2 + train["f1"])
    register_model(settings, "spend", ridge, train[FEATURES].head(5))
    labels = np.array(["low", "mid", "high"])[np.digitize(train["f0"], [-0.5, 0.5])]
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(train[FEATURES], labels)
    register_model(settings, "tier", forest, train[FEATURES].head(5))

    batch.score(spark, settings, "spend", churn["uri"], RUN_DATE)
    spend = _sorted(results.read("spend"))
    assert "probability" not in spend.columns
    np.testing.assert_allclose(spend["prediction"].to_numpy(), ridge.predict(frame[FEATURES]), rtol=0, atol=1e-12)

    batch.score(spark, settings, "tier", churn["uri"], RUN_DATE)
    tier = _sorted(results.read("tier"))
    assert tier["prediction"].tolist() == forest.predict(frame[FEATURES]).tolist()
    np.testing.assert_array_equal(np.vstack(tier["probability"].to_numpy()), forest.predict_proba(frame[FEATURES]))


def test_models_that_need_named_columns_get_a_dataframe(spark: Any, settings: Any) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from mlplatform.scoring import batch, results

    frame = make_frame(800, seed=6)
    frame["plan"] = np.where(frame["f2"] > 0, "pro", "basic")
    columns = ["plan", "f0", "f1"]
    prep = ColumnTransformer([("plan", OneHotEncoder(), ["plan"])], remainder="passthrough")
    model = make_pipeline(prep, LogisticRegression()).fit(frame[columns], frame["label"])
    register_model(settings, "churn_plan", model, frame[columns].head(5))
    uri = f"{settings.warehouse}/inputs/plans"
    write_delta(spark, frame[["customer_id", *columns]], uri)

    batch.score(spark, settings, "churn_plan", uri, RUN_DATE, keys=["customer_id"])
    scores = _sorted(results.read("churn_plan"))
    ordered = _sorted(frame)
    np.testing.assert_array_equal(scores["prediction"].to_numpy(), model.predict(ordered[columns]))
    np.testing.assert_allclose(
        scores["probability"].to_numpy(), model.predict_proba(ordered[columns])[:, 1], rtol=0, atol=1e-15
    )


@pytest.mark.parametrize(
    ("select", "message"),
    [
        ("customer_id, f0, f1, f2", "missing feature column(s) f3"),
        ("customer_id, f0, f1, f2, CAST(f3 AS STRING) AS f3", "f3 is string, the model expects double"),
    ],
)
def test_input_not_matching_the_signature_is_refused_before_any_task(
    spark: Any, settings: Any, churn: dict[str, Any], select: str, message: str, tmp_path: Path
) -> None:
    from mlplatform import tables
    from mlplatform.scoring import batch

    uri = str(tmp_path / "bad")
    spark.read.format("delta").load(churn["uri"]).selectExpr(*select.split(", ")).write.format("delta").save(uri)
    before = tables.version(batch.scores_uri(settings, "churn_hgb"))
    jobs = len(spark.sparkContext.statusTracker().getJobIdsForGroup())
    with pytest.raises(ScoringError, match=message.replace("(", r"\(").replace(")", r"\)")):
        batch.score(spark, settings, "churn_hgb", uri, "2024-09-01")
    assert len(spark.sparkContext.statusTracker().getJobIdsForGroup()) == jobs
    assert tables.version(batch.scores_uri(settings, "churn_hgb")) == before


def test_unknown_alias_lists_the_registered_versions(spark: Any, settings: Any, churn: dict[str, Any]) -> None:
    from mlplatform.scoring import batch

    with pytest.raises(
        ModelError, match=r"churn_hgb@staging does not exist.*registered versions of 'churn_hgb': 1 \(champion\)"
    ):
        batch.score(spark, settings, "churn_hgb@staging", churn["uri"], RUN_DATE)


def test_empty_input_and_bad_arguments_commit_nothing(spark: Any, settings: Any, churn: dict[str, Any]) -> None:
    from mlplatform import tables
    from mlplatform.scoring import batch

    table = batch.scores_uri(settings, "churn_hgb")
    before = tables.version(table)
    with pytest.raises(ScoringError, match="has no rows to score"):
        batch.score(spark, settings, "churn_hgb", churn["uri"], "2024-09-02", where="customer_id < 0")
    with pytest.raises(ScoringError, match="is not a date"):
        batch.score(spark, settings, "churn_hgb", churn["uri"], "2024-13-01")
    with pytest.raises(ScoringError, match="does not exist"):
        batch.score(spark, settings, "churn_hgb", "no_such_features", "2024-09-02")
    with pytest.raises(ScoringError, match="has no version 7"):
        batch.score(spark, settings, "churn_hgb", churn["uri"], "2024-09-02", input_version=7)
    with pytest.raises(ScoringError, match=r"key column\(s\) nope not in input"):
        batch.score(spark, settings, "churn_hgb", churn["uri"], "2024-09-02", keys=["customer_id", "nope"])
    assert tables.version(table) == before


def test_scores_cli_reads_results_without_spark(spark: Any, settings: Any, churn: dict[str, Any], mlp: Any) -> None:
    from mlplatform.scoring import batch

    result = batch.score(spark, settings, "churn_hgb", churn["uri"], "2024-10-01")
    for _ in range(3):  # deltalake readers must exit cleanly every time
        listed = mlp(["scores", "list"])
        assert listed.returncode == 0, listed.stderr
        assert "churn_hgb" in listed.stdout and "2024-10-01" in listed.stdout
    runs = mlp(["scores", "list", "churn_hgb"])
    assert runs.returncode == 0 and result.run_id in runs.stdout and "3000" in runs.stdout
    described = mlp(["scores", "describe", "churn_hgb"])
    assert described.returncode == 0, described.stderr
    assert f"scores:churn_hgb@v{result.table_version}" in described.stdout and "probability:double" in described.stdout
    assert "2024-10-01" in described.stdout and result.run_id in described.stdout
    preview = mlp(["scores", "preview", "churn_hgb", "--run-date", "2024-10-01", "-n", "4"])
    assert preview.returncode == 0 and len(preview.stdout.strip().splitlines()) == 5, preview.stdout
    missing = mlp(["scores", "preview", "churn_hgb", "--run-date", "2023-01-01"])
    assert (
        missing.returncode == 1
        and "no scores for run date 2023-01-01" in missing.stderr
        and "2024-10-01" in missing.stderr
    )
    unknown = mlp(["scores", "describe", "nobody"])
    assert unknown.returncode == 1 and "model 'nobody' has no scores table" in unknown.stderr
