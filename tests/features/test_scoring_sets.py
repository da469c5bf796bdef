"""Scoring sets on the churn demo: no skew against the training set, a merge_asof reference, the guards."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from mlplatform import features, tables
from mlplatform.errors import FeatureError
from mlplatform.features import scoring_sets
from mlplatform.features.definitions import load_feature_sets
from mlplatform.features.scoring_sets import AS_OF, EntityTable
from mlplatform.features.trainsets import canonical

SUBJECT = "model churn@1"


def entity_table(settings, frame: pd.DataFrame, name: str) -> EntityTable:
    uri = tables.table_uri(settings, "raw", name)
    tables.write_pandas(frame, uri, mode="overwrite")
    return EntityTable(id=f"delta:{uri}@v{tables.version(uri)}", uri=uri, version=tables.version(uri))


@pytest.fixture
def trained(churn):
    """The churn training set built and its manifest: what a model trained on ts:churn@v0 records."""
    features.build_trainset("churn", churn, engine="pandas")
    return churn, features.trainset_manifest("churn", 0, churn)


def _as_frame(rows) -> pd.DataFrame:
    return rows.to_pandas() if hasattr(rows, "to_pandas") and not hasattr(rows, "sparkSession") else rows.toPandas()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["pandas", "spark"])
def test_scoring_rows_at_the_label_time_equal_the_training_rows(trained, spark, engine):
    settings, manifest = trained
    rows = features.read_trainset("churn", 0, settings)
    feature_columns = [c for c in manifest["columns"] if c not in ("customer_id", "label_time", "churned")]
    checked = 0
    for label_time in sorted(rows["label_time"].unique())[1:-1:3]:
        at = rows[rows["label_time"] == label_time]
        entities = entity_table(settings, at[["customer_id"]], f"entities_{engine}")
        p = scoring_sets.plan(settings, manifest, pd.Timestamp(label_time).to_pydatetime(), SUBJECT, entities)
        built = _as_frame(scoring_sets.build(p, engine, spark))
        assert list(built.columns) == ["customer_id", AS_OF, *feature_columns]
        assert (pd.to_datetime(built[AS_OF], utc=True) == pd.Timestamp(label_time)).all()
        expected = canonical(at[["customer_id", *feature_columns]], ["customer_id", *feature_columns])
        got = canonical(built[["customer_id", *feature_columns]], ["customer_id", *feature_columns])
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
        checked += len(at)
    assert checked > 1000
    assert rows[feature_columns].isna().any().any()  # the comparison covered null features too


def test_default_population_and_values_match_merge_asof_of_each_feature_set(trained):
    settings, manifest = trained
    support = features.read("support_contacts", settings=settings)
    # as-of exactly at a contact time (a tie), between a late row's event time and its known time
    late = support[support["known_at"] - support["contact_time"] > pd.Timedelta(days=3)].iloc[0]
    as_of = (late["contact_time"] + pd.Timedelta(days=1)).to_pydatetime()
    p = scoring_sets.plan(settings, manifest, as_of, SUBJECT)
    built = scoring_sets.build(p, "pandas").to_pandas()
    definitions = {d.name: d for d in load_feature_sets()}
    population: set[int] = set()
    expected = pd.DataFrame({"customer_id": sorted(built["customer_id"])})
    for name, info in manifest["features"].items():
        d = definitions[name]
        frame = features.read(name, settings=settings)
        known = frame[frame[d.event_timestamp] <= as_of]
        if d.created_timestamp:
            known = known[known[d.created_timestamp] <= as_of]
        ttl = d.ttl_delta
        if ttl is not None:  # a set without a TTL (customer_profile) does not make its entities active
            population |= set(known[known[d.event_timestamp] >= as_of - ttl]["customer_id"])
        else:
            every = set(known["customer_id"])
        left = expected.assign(t=pd.Timestamp(as_of)).sort_values("t")
        right = known.rename(columns={d.event_timestamp: "t"}).sort_values("t")
        columns = [c for c in info["columns"] if c in built.columns]
        merged = pd.merge_asof(
            left,
            right[["customer_id", "t", *columns]],
            on="t",
            by="customer_id",
            tolerance=pd.Timedelta(ttl) if ttl else None,
        )
        expected = merged.drop(columns="t")
    assert set(built["customer_id"]) == population and len(population) > 500
    assert population < every  # customers without recent activity or contacts are not scored
    cols = list(expected.columns)
    pd.testing.assert_frame_equal(canonical(built[cols], cols), canonical(expected, cols), check_dtype=False)
    assert late["contact_time"] <= as_of < late["known_at"]  # a row in the TTL window, not known yet: left out


def test_unknown_entities_get_null_features_and_the_where_filter_applies(trained):
    settings, manifest = trained
    entities = entity_table(settings, pd.DataFrame({"customer_id": np.array([1, 2, 3, 10**9], dtype="int64")}), "few")
    as_of = datetime(2024, 6, 30, 23, 59, 59, tzinfo=timezone.utc)
    p = scoring_sets.plan(
        settings,
        manifest,
        as_of,
        SUBJECT,
        EntityTable(entities.id, entities.uri, entities.version, where="customer_id <> 2"),
    )
    built = scoring_sets.build(p, "pandas").to_pandas().set_index("customer_id")
    assert sorted(built.index) == [1, 3, 10**9]
    assert built.loc[10**9].drop(AS_OF).isna().all() and not built.loc[1].drop(AS_OF).isna().all()


def test_changed_definition_is_refused_unless_allowed(trained):
    settings, manifest = trained
    activity = next(d for d in load_feature_sets() if d.name == "account_activity")
    changed = activity.model_copy(update={"ttl": "10d", "features": activity.features[:-1]})
    features.apply(settings, [changed])
    as_of = datetime(2024, 6, 30, tzinfo=timezone.utc)
    with pytest.raises(FeatureError) as err:
        scoring_sets.plan(settings, manifest, as_of, SUBJECT)
    text = err.value.render()
    assert "feature set 'account_activity' changed since model churn@1 was trained: revision 1" in text
    assert "-> revision 2" in text and "features removed: balance" in text and "ttl 30d -> 10d" in text, text
    assert "--allow-definition-change" in text
    p = scoring_sets.plan(settings, manifest, as_of, SUBJECT, allow_definition_change=True)
    assert len(p.definition_changes) == 1 and "account_activity" in p.definition_changes[0]


def test_stale_feature_set_names_the_set_and_its_lag(trained):
    settings, manifest = trained
    newest = features.read("account_activity", settings=settings)["event_time"].max()
    as_of = (newest + pd.Timedelta(days=45)).to_pydatetime()
    with pytest.raises(
        FeatureError,
        match=r"model churn@1: feature set 'account_activity' \(fs:account_activity@v\d+\) "
        r"is stale at .*: its newest row is from .*, 45.0 days old, beyond the 30d",
    ):
        scoring_sets.plan(settings, manifest, as_of, SUBJECT)
    ok = scoring_sets.plan(
        settings,
        manifest,
        as_of,
        SUBJECT,
        max_staleness={"account_activity": timedelta(days=60), "activity_rollups": timedelta(days=60)},
    )
    assert ok.population.num_rows > 0


def test_entity_table_without_keys_mistyped_keys_and_empty_population(trained):
    settings, manifest = trained
    as_of = datetime(2024, 6, 30, tzinfo=timezone.utc)
    no_keys = entity_table(settings, pd.DataFrame({"id": [1, 2]}), "no_keys")
    with pytest.raises(FeatureError, match=r"entity table delta:.*no_keys@v0 has no key column 'customer_id'"):
        scoring_sets.plan(settings, manifest, as_of, SUBJECT, no_keys)
    strings = entity_table(settings, pd.DataFrame({"customer_id": ["1", "2"]}), "string_keys")
    with pytest.raises(
        FeatureError,
        match=r"key column 'customer_id' of entity table .* is string, the feature sets "
        r"declare it int64",
    ):
        scoring_sets.plan(settings, manifest, as_of, SUBJECT, strings)
    few = entity_table(settings, pd.DataFrame({"customer_id": np.array([1, 2], dtype="int64")}), "two")
    with pytest.raises(FeatureError, match=r"no entity to score at .* in delta:.*two@v0 where customer_id > 5"):
        scoring_sets.plan(
            settings, manifest, as_of, SUBJECT, EntityTable(few.id, few.uri, few.version, where="customer_id > 5")
        )
    before_any_signup = datetime(1990, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(FeatureError, match="has no row known at 1990-01-01"):
        scoring_sets.plan(settings, manifest, before_any_signup, SUBJECT)


@pytest.mark.parametrize("known", [False, True])
def test_freshness_proved_from_file_statistics_only_when_a_row_really_is_fresh(tmp_path, known):
    """The log-statistics shortcut of the staleness guard never calls fresh what a read calls stale."""
    from mlplatform.features.pit import JoinInput
    from mlplatform.features.trainsets import SetInput

    rng = np.random.default_rng(7)
    uri = str(tmp_path / "events")
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    chunks = []
    for _ in range(6):  # files with overlapping, gapped event ranges; known times up to 5 days late
        first = start + timedelta(days=int(rng.integers(0, 60)))
        event = pd.Series([first + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 10, size=20)])
        chunk = pd.DataFrame({"k": rng.integers(0, 5, size=20), "t": event})
        chunk["known_at"] = chunk["t"] + pd.to_timedelta(rng.integers(0, 5 * 24, size=20), unit="h")
        tables.write_pandas(chunk, uri, mode="append")
        chunks.append(chunk)
    rows = pd.concat(chunks)
    join = JoinInput("events", ("k",), "t", "known_at" if known else None, timedelta(days=3), (("k", "k"),))
    s = SetInput(join=join, table=uri, version=tables.version(uri), revision=1, definition_hash="h")
    proved = 0
    for hours in range(0, 24 * 80, 7):
        as_of = start + timedelta(hours=hours, minutes=30)
        since = as_of - timedelta(days=3)
        inside = rows[(rows["t"] >= since) & (rows["t"] <= as_of) & (~known | (rows["known_at"] <= as_of))]
        if scoring_sets._fresh_by_stats(s, as_of, since):
            proved += 1
            assert len(inside), f"statistics called {as_of} fresh, but no row is in [{since}, {as_of}]"
    assert proved >= (1 if known else 10)  # the shortcut is taken, not only sound (rarer with late known times)
