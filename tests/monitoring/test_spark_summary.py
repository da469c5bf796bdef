"""The Spark engine of the drift check: its one-pass summary gives the same report as the pandas one, the pass
scans each input once, and a scoring run's drift is the same whichever engine measures it."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlplatform.errors import MonitoringError
from mlplatform.monitoring import ModelThresholds, Thresholds, build_profile, compare
from mlplatform.monitoring.drift import compare_summary
from mlplatform.monitoring.spark_summary import aggregation, output_expressions, summarize

PART = ["run_date"]
LARGE = ModelThresholds(default=Thresholds(small_sample_rows=0))  # every column judged as a large sample


def _reference(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "income": rng.normal(50, 10, n),
            "visits": rng.poisson(3, n),
            "const": np.full(n, 2.0),
            "plan": rng.choice(["basic", "plus", "pro"], p=[0.5, 0.3, 0.2], size=n),
            "region": rng.choice([f"r{i}" for i in range(30)], size=n),
            "member": rng.random(n) < 0.3,
            "code": rng.choice([1, 2, 3], size=n),
        }
    )


def _current(rng: np.random.Generator, n: int) -> pa.Table:
    """Shifted values with nulls and NaNs (both null to the drift check), values out of range, unseen categories."""
    income = rng.normal(56, 12, n)
    income[:5] = [np.inf, -np.inf, 1e6, -1e6, np.nan]  # out of range both ways, and a NaN that is not a null
    null = np.zeros(n, dtype=bool)
    null[5 : n // 10] = True
    plan = rng.choice(["basic", "plus", "pro", "enterprise"], p=[0.3, 0.3, 0.3, 0.1], size=n).astype(object)
    plan[: n // 20] = None
    return pa.table(
        {
            "income": pa.array(income, mask=null),
            "visits": pa.array(rng.poisson(3.5, n)),
            "const": pa.array(np.where(np.arange(n) % 7 == 0, 3.0, 2.0)),
            "plan": pa.array(plan, type=pa.string()),
            "region": pa.array(rng.choice([f"r{i}" for i in range(34)], size=n)),
            "member": pa.array(rng.random(n) < 0.5, mask=np.arange(n) % 11 == 0),
            "code": pa.array(rng.choice([1, 2, 3, 4], size=n)),
            "key": pa.array(np.arange(n)),
            "prediction": pa.array(rng.random(n) < 0.4),
            "probability": pa.array(list(rng.dirichlet([2, 5], size=n))),
        }
    )


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    rng = np.random.default_rng(11)
    reference = _reference(rng, 20_000)
    proba = rng.dirichlet([2, 5], size=20_000)
    profile = build_profile(
        reference, predictions=proba[:, 1] > 0.5, probabilities=proba, model="churn", version=3, categorical=["code"]
    )
    return {"profile": profile, "current": _current(rng, 3000)}


def _pandas_report(profile: Any, table: pa.Table, thresholds: ModelThresholds) -> Any:
    frame = table.to_pandas()
    probabilities = np.vstack(frame["probability"].to_numpy())
    return compare(profile, frame.drop(columns=["prediction", "probability"]), frame["prediction"], probabilities,
                   thresholds=thresholds)  # fmt: skip


@pytest.mark.parametrize("thresholds", [ModelThresholds(), LARGE], ids=["small-sample-tests", "large-sample"])
def test_the_spark_summary_gives_the_pandas_report(spark: Any, data: dict[str, Any], thresholds: Any) -> None:
    profile, table = data["profile"], data["current"]
    frame = spark.createDataFrame(table)
    outputs = output_expressions(frame, profile, "prediction", "probability")
    assert list(outputs) == ["prediction", "probability_0", "probability_1"]
    ours = compare_summary(profile, summarize(frame, profile, thresholds=thresholds, outputs=outputs),
                           thresholds=thresholds)  # fmt: skip
    expected = _pandas_report(profile, table, thresholds)
    assert ours.to_records() == expected.to_records()
    assert ours.rows == expected.rows == 3000 and ours.status == expected.status == "alert"
    income, plan = ours.column("income"), ours.column("plan")
    assert income.out_of_range_share > 0 and plan.unseen_share > 0 and income.null_rate > 0.09
    assert ours.column("const").out_of_range_share == pytest.approx(1 / 7, abs=1e-3)
    tested = {c.feature: c.test for c in ours.columns}
    if thresholds is LARGE:
        assert set(tested.values()) == {None}
    else:
        assert tested["income"] == "ks" and tested["plan"] == "chi2" and not math.isnan(income.p_value)


def test_the_pass_reads_each_input_once_in_one_aggregation(spark: Any, data: dict[str, Any], tmp_path: Path) -> None:
    profile, table = data["profile"], data["current"]
    spark.createDataFrame(table.drop_columns(["prediction", "probability"])).write.parquet(str(tmp_path / "vectors"))
    spark.createDataFrame(table.select(["key", "prediction", "probability"])).write.parquet(str(tmp_path / "scores"))
    joined = spark.read.parquet(str(tmp_path / "vectors")).join(spark.read.parquet(str(tmp_path / "scores")), "key")
    aggregated, _ = aggregation(joined, profile, output_expressions(joined, profile, "prediction", "probability"))
    plan = aggregated._jdf.queryExecution().executedPlan().toString()
    assert plan.count("FileScan parquet") == 2, plan  # what it counts is checked against pandas above
    assert plan.count("HashAggregate(keys=[]") == 2  # partial and final: one aggregation, no groups


def test_bad_input_names_the_column_or_the_model(spark: Any, data: dict[str, Any]) -> None:
    profile, table = data["profile"], data["current"]
    frame = spark.createDataFrame(table)
    with pytest.raises(MonitoringError, match=r"model:churn@3 lacks profiled feature\(s\) visits — pass the scored"):
        summarize(frame.drop("visits"), profile)
    with pytest.raises(MonitoringError, match=r"column 'income' is numeric in the reference but holds string values"):
        summarize(frame.withColumn("income", frame["plan"]), profile)
    alone = build_profile(data["current"].select(["income"]).to_pandas(), model="churn", version=4)
    with pytest.raises(MonitoringError, match=r"model:churn@4 has no reference profile of output 'prediction'"):
        output_expressions(frame, alone, "prediction", "probability")


def _scored_run(settings: Any, data: dict[str, Any]) -> Any:
    """A run's scoring-set and scores partitions as a feature-repository run leaves them, and its ScoreResult."""
    from mlplatform import tables
    from mlplatform.features.scoring_sets import AS_OF
    from mlplatform.monitoring.store import write_profile
    from mlplatform.scoring.batch import ScoreResult

    day = pd.Timestamp("2024-06-30")
    frame = data["current"].to_pandas().assign(**{AS_OF: day.tz_localize("UTC"), "run_date": day.date()})
    frame["probability"] = [p[1] for p in frame["probability"]]  # a binary model: the positive class
    features = frame.drop(columns=["prediction", "probability"]).assign(model_version=3, scoring_run_id="r1")
    write_profile(settings, build_profile(
        features.drop(columns=["key", AS_OF, "model_version", "scoring_run_id", *PART]).replace([np.inf, -np.inf], 0),
        predictions=frame["prediction"], probabilities=frame["probability"], model="churn", version=3,
    ))  # fmt: skip
    vectors = tables.write_pandas(
        features, tables.table_uri(settings, "scoring_sets", "churn"), partition_by=["run_date"]
    )
    uri = tables.table_uri(settings, "scores", "churn")
    scores = tables.write_pandas(
        frame[["key", AS_OF, "prediction", "probability", "run_date"]], uri, partition_by=["run_date"]
    )
    return ScoreResult(model="churn", model_version=3, env_id=None, input_id="scoring_set:churn@2024-06-30",
                       run_date="2024-06-30", run_id="r1", table=uri, table_version=scores, rows=len(frame),
                       seconds=0.0, columns=("key", AS_OF, "prediction", "probability"),
                       scoring_set_version=vectors)  # fmt: skip


def test_a_runs_drift_is_the_same_from_either_engine(spark: Any, settings: Any, data: dict[str, Any]) -> None:
    from mlplatform.monitoring.store import read_drift
    from mlplatform.scoring.drift_run import measure_drift

    result = _scored_run(settings, data)
    stored, statuses = {}, set()
    for engine in ("spark", "pandas"):
        statuses.add(measure_drift(settings, ["key"], result, engine=engine, spark=spark))
        stored[engine] = read_drift(settings, "churn", run_date="2024-06-30").drop(columns=["computed_at"])
    assert statuses == {"ok"}  # the profile is of these very rows (but for 4 infinite values and a NaN)
    pd.testing.assert_frame_equal(stored["spark"], stored["pandas"])
    assert set(stored["spark"]["feature"]) == {*data["profile"].features, "prediction", "probability"}


def test_an_unknown_engine_or_spark_without_a_session_is_one_line() -> None:
    from mlplatform.scoring.drift_run import choose_engine

    with pytest.raises(MonitoringError, match=r"drift engine 'polars' is not one of auto, pandas, spark — pass"):
        choose_engine("polars", 10, None)
    with pytest.raises(MonitoringError, match=r"drift engine 'spark' needs an active Spark session"):
        choose_engine("spark", 10, None)
    assert choose_engine("auto", 10**9, None) == "pandas"


def _merges_one_to_one(left: pd.DataFrame, right: pd.DataFrame, keys: list[str]) -> bool:
    """The reference for same_rows: pandas' validated merge pairs every row of both sides."""
    try:
        merged = left.merge(right, on=keys, how="inner", validate="one_to_one")
    except pd.errors.MergeError:
        return False
    return len(merged) == len(left) == len(right)


def test_same_rows_agrees_with_a_validated_merge() -> None:
    from mlplatform.scoring.drift_run import same_rows

    rng = np.random.default_rng(7)
    day = pd.Timestamp("2024-06-30", tz="UTC")
    left = pd.DataFrame({"key": rng.permutation(5_000), "as_of": day, "x": rng.random(5_000)})
    shuffled = left.sample(frac=1.0, random_state=1).reset_index(drop=True)
    changed = shuffled.assign(key=shuffled["key"].where(shuffled.index != 10, 10_000))
    twice = shuffled.assign(key=shuffled["key"].where(shuffled.index != 10, shuffled["key"][11]))
    other_day = shuffled.assign(as_of=shuffled["as_of"].where(shuffled.index != 3, day + pd.Timedelta(days=1)))
    other_type = shuffled.assign(key=shuffled["key"].astype("float64"))
    shorter = shuffled.iloc[1:]
    cases = {"shuffled": shuffled, "changed": changed, "twice": twice, "other_day": other_day, "shorter": shorter}
    for name, right in cases.items():
        assert same_rows(left, right, ["key", "as_of"]) == _merges_one_to_one(left, right, ["key", "as_of"]), name
    assert same_rows(left, shuffled, ["key", "as_of"])
    assert not same_rows(left, other_type, ["key", "as_of"])  # the merge would pair them; the fast path does not


def test_a_key_scored_twice_is_one_line_and_missing_scores_are_left_out_with_a_warning(
    settings: Any, data: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    from deltalake import DeltaTable

    from mlplatform import tables
    from mlplatform.monitoring.store import read_drift
    from mlplatform.scoring.drift_run import measure_drift

    result = _scored_run(settings, data)
    scores = DeltaTable(result.table).to_pandas()
    doubled = tables.write_pandas(
        pd.concat([scores, scores.head(1)]), result.table, mode="overwrite", partition_by=PART
    )
    with pytest.raises(MonitoringError, match=r"the scoring set and the scores of churn on 2024-06-30 do not hold"):
        measure_drift(settings, ["key"], dataclasses.replace(result, table_version=doubled), engine="pandas")
    fewer = tables.write_pandas(scores.iloc[5:], result.table, mode="overwrite", partition_by=PART)
    with caplog.at_level("WARNING", logger="mlplatform.scoring.drift_run"):
        measure_drift(settings, ["key"], dataclasses.replace(result, table_version=fewer), engine="pandas")
    assert f"{len(scores)} scoring-set rows and {len(scores) - 5} scores" in caplog.text
    stored = read_drift(settings, "churn", run_date="2024-06-30")
    assert set(stored["rows"]) == {len(scores) - 5}, stored["rows"]
