"""Scoring a registered model from the feature repository, on the churn demo (real Spark, Delta, MLflow).

One module home: the churn demo data (``churn_warehouse``, tests/conftest.py) copied in,
the ``churn`` training set built, a gradient-boosting pipeline fitted on its rows and
registered as ``churn_fs`` with ``mlp.training_set = ts:churn@v0``. The training labels
end on 2024-12-01 and the activity on 2024-12-31, so run dates in early January 2025 are
after the training data and within every feature set's TTL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scoring_support import REPO, SlowModel, register_model

from mlplatform.monitoring import build_profile
from mlplatform.monitoring.store import read_drift, read_profile, write_profile

MODEL = "churn_fs"
DAY = "2025-01-10"  # the module's first run (fixture ``scored``)
OTHER_DAY = "2025-01-11"  # --entities with a filter
KILLED_DAY = "2025-01-12"  # a run killed while scoring
NIGHTLY_DAY = "2025-01-13"
STALE_DAY = "2025-06-01"  # five months after the last activity row (TTL 30d)
NOT_FEATURES = ("customer_id", "label_time", "churned")
KEYS = ["customer_id", "as_of"]


@pytest.fixture(scope="module")
def model(spark: Any, churn_warehouse: Path, module_home: Path) -> dict[str, Any]:
    """The churn demo in the module home, ts:churn@v0 built, churn_fs@1 (champion) fitted on its rows."""
    import shutil

    from mlplatform import features
    from mlplatform.config import load_settings
    from mlplatform.training.pipelines import gradient_boosting

    shutil.copytree(churn_warehouse, module_home, symlinks=True, dirs_exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_HOME", str(module_home))
        mp.setenv("MLP_PROJECT", str(REPO))
        settings = load_settings()
        features.build_trainset("churn", settings, engine="pandas")
        manifest = features.trainset_manifest("churn", 0, settings)
        rows = features.read_trainset("churn", 0, settings)
        columns = [c for c in manifest["columns"] if c not in NOT_FEATURES]
        estimator = gradient_boosting().set_params(model__max_iter=40)
        estimator.fit(rows[columns], rows["churned"])
        registered = register_model(
            settings, MODEL, estimator, rows[columns].head(5), tags={"mlp.training_set": "ts:churn@v0"}
        )
        reference = build_profile(
            rows[columns],
            estimator.predict(rows[columns]),
            estimator.predict_proba(rows[columns])[:, 1],
            model=MODEL,
            version=registered.version,
        )
        write_profile(settings, reference)  # what training stores at registration (training/reference.py)
    return {"columns": columns, "estimator": estimator, "version": registered.version, "manifest": manifest}


@pytest.fixture(scope="module")
def scored(spark: Any, model: dict[str, Any], module_home: Path) -> Any:
    """The first scoring run: churn_fs@champion, default population, run date DAY."""
    from mlplatform.config import load_settings
    from mlplatform.scoring import from_features

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_HOME", str(module_home))
        mp.setenv("MLP_PROJECT", str(REPO))
        return from_features.score_features(spark, load_settings(), f"{MODEL}@champion", DAY, engine="pandas")


def _versions(settings: Any) -> tuple[int, int]:
    from mlplatform import tables
    from mlplatform.scoring import batch, from_features

    return tables.version(batch.scores_uri(settings, MODEL)), tables.version(
        from_features.scoring_set_uri(settings, MODEL)
    )


def _joined(day: str) -> pd.DataFrame:
    """The scores of ``day`` next to the feature vectors they were computed from (keys + as_of + run date)."""
    from mlplatform.scoring import results

    scores = results.read(MODEL, run_date=day)
    vectors = results.read_features(MODEL, run_date=day)
    assert scores["customer_id"].is_unique and vectors["customer_id"].is_unique
    joined = scores.merge(vectors, on=[*KEYS, "run_date"], how="outer", validate="1:1", indicator=True)
    assert (joined["_merge"] == "both").all()
    return joined.sort_values("customer_id").reset_index(drop=True)


@pytest.mark.slow
def test_default_population_scored_once_with_the_models_own_predictions(
    settings: Any, model: dict[str, Any], scored: Any
) -> None:
    from datetime import date

    from mlplatform.scoring import from_features, results
    from mlplatform.tracking import model_registry

    info = model_registry.resolve(f"{MODEL}@champion", settings)
    population = from_features.plan_scoring_set(settings, info, date.fromisoformat(DAY)).population.to_pandas()
    joined = _joined(DAY)

    assert set(joined["customer_id"]) == set(population["customer_id"]) and len(joined) == len(population) > 500
    assert scored.rows == len(joined) and scored.run_date == DAY
    end_of_day = pd.Timestamp(f"{DAY} 23:59:59.999999", tz="UTC")
    assert scored.as_of == end_of_day.isoformat()
    assert (pd.to_datetime(joined["as_of"], utc=True) == end_of_day).all()
    assert set(joined["scoring_run_id_x"]) == set(joined["scoring_run_id_y"]) == {scored.run_id}
    assert (joined["model_version_x"] == model["version"]).all() and (
        joined["model_version_y"] == model["version"]
    ).all()

    vectors = results.read_features(MODEL, run_date=DAY).sort_values("customer_id").reset_index(drop=True)
    assert list(vectors.columns) == [*KEYS, *model["columns"], "model_version", "scoring_run_id", "run_date"]
    assert vectors[model["columns"]].isna().any().any()  # churned customers: no recent activity, null features
    expected = model["estimator"].predict_proba(vectors[model["columns"]])
    np.testing.assert_array_equal(joined["probability"].to_numpy(), expected[:, 1])
    np.testing.assert_array_equal(joined["prediction"].to_numpy(), model["estimator"].classes_[expected.argmax(1)])
    assert 0 < joined["prediction"].sum() < len(joined)


@pytest.mark.slow
def test_rerun_of_a_run_date_replaces_it_in_both_tables(spark: Any, settings: Any, scored: Any) -> None:
    from mlplatform.scoring import from_features, results

    before = _joined(DAY)
    again = from_features.score_features(spark, settings, f"{MODEL}@champion", DAY, engine="spark")
    after = _joined(DAY)

    assert again.table_version > scored.table_version and again.scoring_set_version > scored.scoring_set_version
    assert (again.table_version, again.scoring_set_version) == _versions(settings)
    assert len(after) == len(before) == again.rows
    assert set(after["scoring_run_id_x"]) == set(after["scoring_run_id_y"]) == {again.run_id}
    same = [c for c in before.columns if c not in ("scoring_run_id_x", "scoring_run_id_y", "scored_at")]
    pd.testing.assert_frame_equal(after[same], before[same])  # both join engines build the same vectors
    assert results.run_dates(MODEL, settings) == results.run_dates(MODEL, settings, area="scoring_sets")


@pytest.mark.slow
def test_entities_table_with_a_filter_scores_only_those_in_a_new_partition(
    spark: Any, settings: Any, scored: Any
) -> None:
    from mlplatform import tables
    from mlplatform.lineage.graph import load_graph
    from mlplatform.scoring import from_features, results

    # Customers with every feature known on DAY and some without (churned: no recent activity), and a stranger.
    # A complete row must be among them: the batch scorer learns which features the model accepts null in by
    # nulling them one at a time in a complete sample row (with none, every null is refused).
    vectors = results.read_features(MODEL, run_date=DAY)
    complete = vectors.dropna()["customer_id"].head(4).tolist()
    partial = vectors[vectors.isna().any(axis=1)]["customer_id"].head(2).tolist()
    assert len(complete) == 4 and len(partial) == 2
    ids = [*complete, *partial, 10**9]
    waves = [1, 1, 2, 1, 1, 2, 1]
    uri = tables.table_uri(settings, "raw", "campaign_customers")
    tables.write_pandas(
        pd.DataFrame({"customer_id": np.array(ids, dtype="int64"), "wave": waves}), uri, mode="overwrite"
    )
    result = from_features.score_features(
        spark, settings, f"{MODEL}@champion", OTHER_DAY, entities=uri, entities_where="wave = 1"
    )

    joined = _joined(OTHER_DAY)
    wanted = sorted(i for i, w in zip(ids, waves) if w == 1)
    assert sorted(joined["customer_id"]) == wanted and result.rows == len(wanted) == 5
    unknown = joined.set_index("customer_id").loc[10**9]
    assert pd.isna(unknown["plan"]) and pd.isna(unknown["logins_7d"])  # not a customer: null features, still scored
    for area in ("scores", "scoring_sets"):
        assert {DAY, OTHER_DAY} <= {d.isoformat() for d in results.run_dates(MODEL, settings, area=area)}
    assert len(results.read(MODEL, run_date=DAY)) == scored.rows  # the other run date is untouched

    upstream = load_graph(settings).walk(result.scores_id).upstream
    assert (f"delta:{uri}@v{tables.version(uri)}", "entities") in {(e.from_id, e.relation) for e in upstream}


@pytest.mark.slow
def test_lineage_names_every_feature_set_version_and_the_model(
    settings: Any, model: dict[str, Any], scored: Any
) -> None:
    from datetime import date

    from mlplatform.lineage.graph import load_graph
    from mlplatform.scoring import from_features
    from mlplatform.tracking import model_registry

    info = model_registry.resolve(f"{MODEL}@{model['version']}", settings)
    p = from_features.plan_scoring_set(settings, info, date.fromisoformat(DAY))
    walk = load_graph(settings).walk(scored.scores_id)
    direct = {(e.from_id, e.relation) for e in walk.upstream if e.to_id == scored.scores_id}

    assert len(p.feature_set_ids) == 4
    assert {(fs, "feature_set") for fs in p.feature_set_ids} | {(info.id, "model")} <= direct
    assert not any(relation == "entities" for _, relation in direct)  # the default population has no table


@pytest.mark.slow
def test_cli_prints_the_job_with_a_fixed_as_of_and_refuses_a_stale_run_date(
    mlp: Any, settings: Any, model: dict[str, Any], scored: Any
) -> None:
    from mlplatform.scoring import results

    printed = mlp(["score", f"{MODEL}@champion", "--run-date", DAY, "--print"])
    assert printed.returncode == 0, printed.stderr
    line = printed.stdout.strip()
    assert "\n" not in line and "spark-submit" in line
    assert "jobs/score.py" in line or "score.py" in line
    assert f"{MODEL}@{model['version']} --run-date {DAY} --as-of {DAY}T23:59:59.999999+00:00" in line
    assert "--input" not in line
    shown = mlp(["scores", "features", MODEL, "--run-date", DAY, "-n", "3"])
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split("\n")[0].split()[:3] == ["customer_id", "as_of", model["columns"][0]]
    assert len(shown.stdout.strip().splitlines()) == 4  # header + 3 rows

    before = _versions(settings)
    stale = mlp(["score", f"{MODEL}@champion", "--run-date", STALE_DAY])
    assert stale.returncode == 1, stale.stdout + stale.stderr
    errors = [x for x in stale.stderr.splitlines() if x.startswith("Error:")]
    assert len(errors) == 1, stale.stderr
    assert "feature set 'account_activity' (fs:account_activity@v" in errors[0] and "is stale at" in errors[0]
    assert "mlp features ingest account_activity" in errors[0]
    assert _versions(settings) == before
    assert STALE_DAY not in {d.isoformat() for d in results.run_dates(MODEL, settings)}


@pytest.fixture(scope="module")
def slow_version(model: dict[str, Any], module_home: Path) -> dict[str, Any]:
    """churn_fs@2 (no alias): the fitted pipeline behind SlowModel (30 s per batch, a marker when one starts)."""
    import cloudpickle
    import scoring_support

    from mlplatform import features
    from mlplatform.config import load_settings

    markers = module_home / "markers-from-features"
    markers.mkdir()
    cloudpickle.register_pickle_by_value(scoring_support)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLP_HOME", str(module_home))
            mp.setenv("MLP_PROJECT", str(REPO))
            settings = load_settings()
            example = features.read_trainset("churn", 0, settings)[model["columns"]].head(5)
            slow = SlowModel(model["estimator"], 30.0, str(markers))
            registered = register_model(
                settings, MODEL, slow, example, alias=None, tags={"mlp.training_set": "ts:churn@v0"}
            )
    finally:
        cloudpickle.unregister_pickle_by_value(scoring_support)
    return {"version": registered.version, "markers": markers}


@pytest.mark.slow
def test_killed_run_leaves_both_tables_at_their_previous_version(
    settings: Any, scored: Any, slow_version: dict[str, Any], module_home: Path, tmp_path: Path
) -> None:
    from mlplatform.scoring import results

    before = _versions(settings)
    markers = slow_version["markers"]
    log = tmp_path / "job.log"
    env = {**os.environ, "MLP_HOME": str(module_home), "MLP_PROJECT": str(REPO)}
    args = [sys.executable, str(REPO / "jobs" / "score.py"), f"{MODEL}@{slow_version['version']}"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*args, "--run-date", KILLED_DAY],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 600
        while not any(not m.name.startswith("load-") for m in markers.iterdir()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"scoring never started (exit {proc.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)

    assert _versions(settings) == before
    for area in ("scores", "scoring_sets"):
        assert KILLED_DAY not in {d.isoformat() for d in results.run_dates(MODEL, settings, area=area)}


@pytest.mark.slow
def test_nightly_entry_without_input_scores_the_features_and_an_unknown_key_is_one_line(
    settings: Any, scored: Any, tmp_path: Path
) -> None:
    from datetime import date

    from mlplatform.errors import ScoringError
    from mlplatform.scoring import from_features, nightly, results
    from mlplatform.tracking import model_registry

    config = tmp_path / "scoring.yaml"
    config.write_text(f"models:\n  - model: {MODEL}\n    engine: pandas\n")
    outcomes = nightly.run(NIGHTLY_DAY, config=config)

    assert [o.ok for o in outcomes] == [True], outcomes
    rows = len(results.read(MODEL, run_date=NIGHTLY_DAY))
    assert outcomes[0].detail.startswith(f"{rows} rows -> scores:{MODEL}@v")
    # the population of that night: entities with a row within the TTL then (it differs from DAY's)
    info = model_registry.resolve(f"{MODEL}@champion", settings)
    population = from_features.plan_scoring_set(settings, info, date.fromisoformat(NIGHTLY_DAY)).population
    assert len(results.read_features(MODEL, run_date=NIGHTLY_DAY)) == rows == population.num_rows > 500

    config.write_text(f"models:\n  - model: {MODEL}\n    entitys: raw/campaign_customers\n")
    with pytest.raises(ScoringError) as err:
        nightly.run(NIGHTLY_DAY, config=config)
    assert "\n" not in err.value.render() and "unknown key 'models.0.entitys'" in err.value.render()


@pytest.mark.slow
def test_drift_of_the_scored_vectors_is_measured_against_the_reference(
    mlp: Any, settings: Any, model: dict[str, Any], scored: Any
) -> None:
    """Each run stores, per feature and output, PSI on the reference bins of what it really scored."""
    from mlplatform.scoring import results

    drift = read_drift(settings, MODEL, run_date=DAY)
    assert scored.drift in ("ok", "warn", "alert") and set(drift["status"]) <= {"ok", "warn", "alert"}
    assert set(drift["feature"]) == {*model["columns"], "prediction", "probability"}
    assert (drift["report_status"] == scored.drift).all() and (drift["report_rows"] == scored.rows).all()
    profile = read_profile(settings, MODEL, model["version"])
    vectors = results.read_features(MODEL, DAY, settings)
    probability = results.read(MODEL, DAY, settings)["probability"].to_numpy()
    numeric = [c for c in model["columns"] if profile.features[c].kind == "numeric"]
    for name, values in [*[(c, vectors[c].to_numpy(dtype=float)) for c in numeric], ("probability", probability)]:
        column = profile.features.get(name) or profile.outputs[name]
        reference = np.asarray(column.counts, dtype=float)
        finite = values[~np.isnan(values)]
        current = (
            pd.Series(pd.cut(finite, bins=list(column.edges), right=True)).value_counts(sort=False).to_numpy(float)
        )
        r = np.maximum(reference / reference.sum(), 1e-4)
        c = np.maximum(current / current.sum(), 1e-4)
        expected = float(np.sum((c - r) * np.log(c / r)))
        got = float(drift.loc[drift["feature"] == name, "psi"].iloc[0])
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), name

    import json

    shown = mlp(["monitor", MODEL, "--run-date", DAY])
    assert shown.returncode == 0, shown.stderr
    head, columns, *lines = shown.stdout.strip().splitlines()
    assert head == f"model:{MODEL}@{model['version']} on {DAY}: {scored.drift} ({scored.rows} rows scored)"
    assert columns.split()[:3] == ["feature", "role", "status"] and len(lines) == len(drift)
    as_json = mlp(["monitor", MODEL, "--json"])  # the latest run date measured (other tests score later)
    shown_rows = json.loads(as_json.stdout)
    (day, version), *others = {(r["run_date"], r["version"]) for r in shown_rows}
    assert not others and day == read_drift(settings, MODEL)["run_date"].max()
    latest = read_drift(settings, MODEL, run_date=day, version=version)
    stored = {r["feature"]: r["psi"] for r in shown_rows}
    assert stored == pytest.approx(dict(zip(latest["feature"], latest["psi"])), nan_ok=True)
    missing = mlp(["monitor", MODEL, "--run-date", STALE_DAY])
    assert missing.returncode != 0 and f"no batch drift measured for model {MODEL} on {STALE_DAY}" in missing.stderr
