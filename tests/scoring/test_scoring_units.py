"""Batch scoring pieces without Spark: the signature check, the executor-side scorer, the nightly config."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from scoring_support import FEATURES, make_frame

from mlplatform.errors import ScoringError
from mlplatform.scoring import arrow_scorer
from mlplatform.scoring.batch import batch_rows, check_columns, parse_run_date

SIGNATURE = [{"name": "f0", "type": "double"}, {"name": "n", "type": "long"}, {"name": "s", "type": "string"}]


def test_check_columns_accepts_widening_and_picks_keys() -> None:
    features, keys, casts = check_columns(
        [("id", "bigint"), ("f0", "int"), ("n", "int"), ("s", "string"), ("extra", "double")],
        SIGNATURE,
        None,
        "model:m@1",
        "in",
    )
    assert features == ["f0", "n", "s"]
    assert keys == ["id", "extra"]  # default: every non-feature column
    assert casts == {"f0": "double", "n": "bigint"}
    assert check_columns(
        [("id", "bigint"), ("f0", "double"), ("n", "bigint"), ("s", "string")], SIGNATURE, ["id"], "m", "in"
    )[1] == ["id"]


def test_check_columns_names_every_problem() -> None:
    with pytest.raises(ScoringError) as err:
        check_columns([("f0", "string"), ("n", "double")], SIGNATURE, None, "model:m@1", "fs:x@v2")
    text = str(err.value)
    assert "fs:x@v2 does not match the signature of model:m@1" in text
    assert "missing feature column(s) s" in text
    assert "f0 is string, the model expects double" in text and "n is double, the model expects long" in text
    assert "the input has f0:string, n:double" in text


def test_check_columns_refuses_keys_that_clash_with_outputs() -> None:
    with pytest.raises(ScoringError, match=r"key column\(s\) prediction .* clash"):
        check_columns(
            [("prediction", "double"), ("f0", "double"), ("n", "bigint"), ("s", "string")], SIGNATURE, None, "m", "in"
        )


def test_batch_rows_and_run_dates() -> None:
    assert batch_rows(10) == 50_000 and batch_rows(1000) == 4194 and batch_rows(10**6) == 1000
    assert parse_run_date("2024-02-29").isoformat() == "2024-02-29"
    with pytest.raises(ScoringError, match="'2024-02-30' is not a date"):
        parse_run_date("2024-02-30")


@pytest.fixture
def shipped(tmp_path: Path, hgb: Any) -> arrow_scorer.ScorerSpec:
    import cloudpickle

    path = tmp_path / "model.pkl"
    path.write_bytes(cloudpickle.dumps(hgb))
    return arrow_scorer.ScorerSpec(
        str(path), hashlib.sha256(path.read_bytes()).hexdigest(), tuple(FEATURES), ("customer_id",)
    )


def _batch(rows: int = 50, seed: int = 7) -> pa.RecordBatch:
    frame = make_frame(rows, seed=seed).drop(columns="label")
    return pa.RecordBatch.from_pandas(frame, preserve_index=False)


def test_workers_score_with_the_native_thread_pools_capped_to_the_task_cpus(shipped: arrow_scorer.ScorerSpec) -> None:
    from dataclasses import replace

    from threadpoolctl import threadpool_info

    def openmp_threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"}

    before = openmp_threads()
    if not before or max(before) < 2:
        pytest.skip("one core: scikit-learn's OpenMP pool has a single thread already")
    seen = []
    for scored in arrow_scorer.score_batches(iter([_batch(), _batch(seed=8)]), replace(shipped, threads=1)):
        seen.append(openmp_threads())
        assert scored.num_rows == 50
    assert seen == [{1}, {1}]
    assert openmp_threads() == before  # restored once the task's batches are done


def test_probe_reports_traits_and_scoring_matches_predict_proba(shipped: arrow_scorer.ScorerSpec, hgb: Any) -> None:
    import json

    info = json.loads(next(arrow_scorer.probe(iter([_batch()]), shipped)).column(0)[0].as_py())
    assert info["proba"] == "binary" and info["input_mode"] == "numpy" and info["predict_from_proba"] is True
    assert info["nullable"] == FEATURES and info["classes"] == [0, 1] and info["prediction_type"] == "int64"
    spec = arrow_scorer.ScorerSpec(
        **{
            **shipped.__dict__,
            "proba": "binary",
            "predict_from_proba": True,
            "prediction_type": "int64",
            "classes": (0, 1),
            "nullable": tuple(FEATURES),
        }
    )
    batch = _batch(2000, seed=8)
    out = pa.Table.from_batches(list(arrow_scorer.score_batches(iter([batch, batch.slice(0, 0)]), spec)))
    frame = batch.to_pandas()
    assert out.column_names == ["customer_id", "prediction", "probability"]
    np.testing.assert_array_equal(out.column("prediction").to_numpy(), hgb.predict(frame[FEATURES]))
    np.testing.assert_array_equal(out.column("probability").to_numpy(), hgb.predict_proba(frame[FEATURES])[:, 1])
    assert arrow_scorer.load_model(spec) is arrow_scorer.load_model(spec)  # unpickled once per process


def test_null_acceptance_is_probed_when_no_sample_row_is_complete(shipped: arrow_scorer.ScorerSpec) -> None:
    import json

    frame = _batch(8).to_pandas()
    for i in range(len(frame)):  # every row lacks one feature: a few entities, each missing something
        frame.loc[i, FEATURES[i % len(FEATURES)]] = np.nan
    gappy = pa.RecordBatch.from_pandas(frame, preserve_index=False)
    info = json.loads(next(arrow_scorer.probe(iter([gappy]), shipped)).column(0)[0].as_py())
    assert info["nullable"] == FEATURES and info["sample_scored"] == 1
    all_null = pa.RecordBatch.from_pandas(frame.assign(f0=np.nan), preserve_index=False)
    assert json.loads(next(arrow_scorer.probe(iter([all_null]), shipped)).column(0)[0].as_py())["nullable"] == []


def test_nulls_raise_the_marker_for_models_without_nan(shipped: arrow_scorer.ScorerSpec) -> None:
    batch = _batch()
    f1 = pa.array([None if i % 5 == 0 else v for i, v in enumerate(batch.column(2).to_pylist())], type=pa.float64())
    with_nulls = pa.RecordBatch.from_arrays(
        [batch.column(0), batch.column(1), f1, batch.column(3), batch.column(4)], names=batch.schema.names
    )
    with pytest.raises(ValueError, match=arrow_scorer.NULL_MARKER + r' \{"f1": 10\}'):
        list(arrow_scorer.score_batches(iter([with_nulls]), shipped))


def test_nightly_config_errors_name_the_key(tmp_path: Path) -> None:
    from mlplatform.scoring.nightly import load_config

    bad = tmp_path / "scoring.yaml"
    bad.write_text("models:\n  - model: churn\n    input: x\n    alais: champion\n")
    with pytest.raises(ScoringError, match=r"unknown key 'models\.0\.alais'"):
        load_config(bad)
    with pytest.raises(ScoringError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    path, config = load_config(Path(__file__).resolve().parents[2] / "conf" / "scoring.yaml")
    assert path.name == "scoring.yaml" and isinstance(config.models, list)


def test_probe_finds_the_columns_a_pipeline_accepts_nulls_in(tmp_path: Path) -> None:
    import json

    import cloudpickle
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    train = make_frame(300, seed=9)
    prep = ColumnTransformer([("impute", SimpleImputer(), ["f0"])], remainder="passthrough")
    model = make_pipeline(prep, LogisticRegression()).fit(train[FEATURES], train["label"])
    path = tmp_path / "model.pkl"
    path.write_bytes(cloudpickle.dumps(model))
    spec = arrow_scorer.ScorerSpec(
        str(path), hashlib.sha256(path.read_bytes()).hexdigest(), tuple(FEATURES), ("customer_id",)
    )
    info = json.loads(next(arrow_scorer.probe(iter([_batch()]), spec)).column(0)[0].as_py())
    assert info["nullable"] == ["f0"] and info["input_mode"] == "pandas" and info["predict_from_proba"] is False


@pytest.mark.parametrize(
    "request_",
    [
        {"model": "m@3", "run_date": "2024-05-02", "input": "/t", "input_version": 0, "keys": ("id", "k")},
        {"model": "m@3", "input": "/t", "input_version": 7, "where": "f0 > 0"},
        {"model": "m@3", "entities": "fs:x@v0", "as_of": "2024-05-02T00:00:00+00:00", "engine": "spark"},
        {"model": "m@3", "allow_definition_change": True, "max_staleness": "2d", "run_id": "r1"},
    ],
)
def test_scoring_request_survives_its_command_line(request_: dict[str, Any]) -> None:
    """The job must score exactly what ``mlp score`` checked: version 0 is a pin, not "unset"."""
    from mlplatform.scoring.job import ScoringRequest, parser, request_of

    request = ScoringRequest(**request_)
    assert request_of(parser().parse_args(request.argv())) == request


class _CountingProba:
    """Counts predict_proba calls of the model it wraps (everything else is the model's)."""

    calls = 0

    def __init__(self, model: Any) -> None:
        self.model = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def predict_proba(self, X: Any) -> Any:
        type(self).calls += 1
        return self.model.predict_proba(X)


@pytest.mark.parametrize("threshold", [0.05, 0.5, 0.93])
def test_thresholded_model_scores_from_one_predict_proba_call(tmp_path: Path, hgb: Any, threshold: float) -> None:
    """A FixedThresholdClassifier predicts ``probability >= threshold``; the scorer derives it."""
    import json
    from dataclasses import replace

    import cloudpickle
    from sklearn.model_selection import FixedThresholdClassifier

    model = FixedThresholdClassifier(hgb, threshold=threshold)
    model.estimator_, model.n_features_in_ = hgb, hgb.n_features_in_
    path = tmp_path / "model.pkl"
    path.write_bytes(cloudpickle.dumps(model))
    spec = arrow_scorer.ScorerSpec(str(path), hashlib.sha256(path.read_bytes()).hexdigest(), tuple(FEATURES), ())
    info = json.loads(next(arrow_scorer.probe(iter([_batch()]), spec)).column(0)[0].as_py())
    assert info["predict_from_proba"] is True and info["decision_threshold"] == threshold
    probed = replace(spec, proba="binary", predict_from_proba=True, decision_threshold=threshold, classes=(0, 1))
    probed = replace(probed, prediction_type="int64", nullable=tuple(FEATURES))
    batch = _batch(3000, seed=9)
    frame = batch.to_pandas()[FEATURES]
    counting, _CountingProba.calls = _CountingProba(model), 0
    scored = arrow_scorer.score_batch(counting, batch, probed)
    assert _CountingProba.calls == 1
    predicted = scored.column("prediction").to_numpy()
    np.testing.assert_array_equal(predicted, model.predict(frame))
    np.testing.assert_array_equal(predicted, (hgb.predict_proba(frame)[:, 1] >= threshold).astype(int))
    assert threshold == 0.5 or (predicted != hgb.predict(frame)).any()  # not the argmax of the probabilities


def test_the_model_cache_follows_the_registry_not_only_the_version_number(
    mlp_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry reset under the same home reuses ``name@1`` for another model: scoring must not reuse the pickle."""
    import shutil

    import cloudpickle
    from mlflow import MlflowClient
    from scoring_support import register_model
    from sklearn.linear_model import LogisticRegression

    from mlplatform.config import load_settings
    from mlplatform.scoring.batch import _fetch_model
    from mlplatform.tracking import model_registry
    from mlplatform.tracking.store import configure

    frame = make_frame(300, seed=3)
    fitted = {
        "first": LogisticRegression(C=0.01).fit(frame[FEATURES].fillna(0), frame["label"]),
        "second": LogisticRegression(C=100.0).fit(frame[FEATURES].fillna(0) * 2, frame["label"]),
    }
    monkeypatch.setenv("MLP_MLFLOW_TRACKING_URI", f"sqlite:///{mlp_home}/registry-first.db")
    configure(load_settings())
    MlflowClient().search_experiments()  # one schema migration; the second registry starts as a copy of the first
    shutil.copyfile(mlp_home / "registry-first.db", mlp_home / "registry-second.db")
    seen = {}
    for store, estimator in fitted.items():
        monkeypatch.setenv("MLP_MLFLOW_TRACKING_URI", f"sqlite:///{mlp_home}/registry-{store}.db")
        settings = load_settings()
        assert register_model(settings, "cache_reset", estimator, frame[FEATURES].head(3)).version == 1
        _, shipped, _ = _fetch_model(settings, model_registry.resolve("cache_reset@1", settings))
        with open(shipped, "rb") as fh:
            seen[store] = cloudpickle.load(fh)
    probe = frame[FEATURES].fillna(0).head(50)
    for store, estimator in fitted.items():
        np.testing.assert_array_equal(seen[store].predict_proba(probe), estimator.predict_proba(probe))
    assert not np.allclose(seen["first"].predict_proba(probe), seen["second"].predict_proba(probe))
