"""Training sets end to end on the churn demo: engines, references, manifests, reproducibility, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from delta_log import stats_columns_written

from mlplatform import features, tables
from mlplatform.errors import FeatureError
from mlplatform.features.definitions import TrainingSetSpec, load_trainset_spec
from mlplatform.features.trainsets import canonical, same_rows
from mlplatform.tables.manifests import trainset_uri


def spec(**changes) -> TrainingSetSpec:
    data = load_trainset_spec("churn").model_dump()
    data.update(changes)
    return TrainingSetSpec(**data)


@pytest.mark.slow
def test_both_engines_write_identical_rows(churn, spark):
    first = features.build_trainset("churn", churn, engine="pandas")
    second = features.build_trainset("churn", churn, engine="spark", spark=spark)
    assert (first.id, second.id) == ("ts:churn@v0", "ts:churn@v1")
    a, b = features.read_trainset("churn", 0, churn), features.read_trainset("churn", 1, churn)
    assert list(a.columns) == list(b.columns) == first.manifest["columns"]
    assert [str(t) for t in a.dtypes] == [str(t) for t in b.dtypes]
    pd.testing.assert_frame_equal(canonical(a, list(a.columns)), canonical(b, list(b.columns)))
    info = tables.describe(trainset_uri(churn, "churn"))
    assert info.num_rows == first.rows == len(a) > 5000
    # statistics on the label columns only (keys, label time, label), written by the engine that created it
    assert stats_columns_written(info.path) == set(first.manifest["labels"]["columns"])


def test_training_set_matches_merge_asof_on_the_feature_tables(churn):
    built = features.build_trainset("churn", churn, engine="pandas", write=False)
    labels = tables.to_pandas(tables.resolve_name(churn, "raw/churn_labels"))
    activity = features.read(
        "account_activity", columns=["customer_id", "event_time", "logins", "balance"], settings=churn
    )
    expected = pd.merge_asof(
        labels.sort_values("label_time"),
        activity.rename(columns={"event_time": "label_time"}).sort_values("label_time"),
        on="label_time",
        by="customer_id",
        direction="backward",
        tolerance=pd.Timedelta(days=30),
    )
    cols = ["customer_id", "label_time", "churned", "logins", "balance"]
    assert same_rows(built, expected, cols)
    assert 0.5 < built["logins"].notna().mean() < 1.0  # matches and TTL misses both occur


def test_known_time_cutoff_excludes_backfilled_support_rows(churn):
    built = features.build_trainset("churn", churn, engine="pandas", write=False)
    support = features.read("support_contacts", settings=churn)
    late = support[support["known_at"] - support["contact_time"] > pd.Timedelta(days=3)]
    assert len(late) > 20
    # For each label, the support row used must have been known by the label time.
    rows = built.dropna(subset=["contacts_90d"]).merge(support, on="customer_id", suffixes=("", "_src"))
    rows = rows[(rows["contact_time"] <= rows["label_time"])]
    used = rows.sort_values("contact_time").groupby(["customer_id", "label_time"]).tail(1)
    leaky = used[used["known_at"] > used["label_time"]]
    # where the latest contact before the label was not yet known, the value came from an older known row
    for _, row in leaky.head(20).iterrows():
        known = (
            support[
                (support.customer_id == row.customer_id)
                & (support.contact_time <= row.label_time)
                & (support.known_at <= row.label_time)
            ]
            .sort_values("contact_time")
            .tail(1)
        )
        if len(known) and row.label_time - known.contact_time.iloc[0] <= pd.Timedelta(days=90):
            assert row["contacts_90d"] == known["contacts_90d"].iloc[0]
    assert len(leaky) > 0


@pytest.mark.slow
def test_manifest_records_inputs_and_rebuild_reproduces_after_new_data(churn, spark):
    first = features.build_trainset("churn", churn)
    assert first.engine == "pandas"  # auto on small inputs
    manifest = features.trainset_manifest("churn", settings=churn)
    assert manifest["id"] == "ts:churn@v0" and manifest["row_count"] == first.rows
    assert manifest["spec_hash"] == load_trainset_spec("churn").digest()
    assert manifest["features"]["account_activity"]["id"].startswith("fs:account_activity@v")
    assert manifest["labels"]["version"] == tables.version(tables.resolve_name(churn, "raw/churn_labels"))
    assert manifest["time_range"] == {"start": "2024-02-01T00:00:00+00:00", "end": "2024-12-01T00:00:00+00:00"}

    # New data lands: every balance changes and a late row arrives for an old day.
    raw = tables.resolve_name(churn, "raw/activity")
    activity = tables.to_pandas(raw)
    changed = activity.assign(balance=activity["balance"] + 1000.0)
    late = changed.iloc[[0]].assign(
        event_time=pd.Timestamp("2024-03-15 23:59:59", tz="UTC"), customer_id=activity["customer_id"].iloc[0]
    )
    late = late[
        ~late.set_index(["customer_id", "event_time"]).index.isin(
            activity.set_index(["customer_id", "event_time"]).index
        )
    ]
    tables.write_pandas(pd.concat([changed, late]), raw, mode="overwrite")
    result = features.ingest(spark, churn, "account_activity")
    assert result.version > manifest["features"]["account_activity"]["version"]

    again = features.rebuild("churn", 0, settings=churn)
    stored = features.read_trainset("churn", 0, churn)
    assert same_rows(again, stored, manifest["columns"])
    fresh = features.build_trainset("churn", churn, write=False)
    assert not same_rows(fresh, stored, manifest["columns"])  # the new data is visible to a new build
    on_spark = features.rebuild("churn", 0, settings=churn, engine="spark", spark=spark)
    assert same_rows(on_spark, stored, manifest["columns"])


def test_pins_and_time_range(churn):
    v0 = tables.version(features.feature_table(churn, "account_activity"))
    pinned = spec(
        pins={"account_activity": v0},
        labels={**load_trainset_spec("churn").labels.model_dump(), "start": "2024-06-01", "end": "2024-09-01"},
    )
    result = features.build_trainset(pinned, churn)
    m = result.manifest
    assert m["features"]["account_activity"]["version"] == v0
    assert m["time_range"] == {"start": "2024-06-01T00:00:00+00:00", "end": "2024-08-01T00:00:00+00:00"}
    rows = features.read_trainset("churn", settings=churn)
    assert rows["label_time"].dt.month.unique().tolist() == [6, 7, 8]


@pytest.mark.slow
def test_label_is_learnable(churn):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    rows = features.build_trainset("churn", churn, write=False)
    x = rows.drop(columns=["customer_id", "label_time", "churned"])
    for column in ("plan", "region", "last_channel"):
        x[column] = x[column].astype("category")
    x = x.astype({c: "float64" for c in x.columns if str(x[c].dtype) != "category"})
    train = rows["label_time"] < pd.Timestamp("2024-09-01", tz="UTC")
    model = HistGradientBoostingClassifier(
        categorical_features="from_dtype", max_iter=100, learning_rate=0.08, random_state=0
    ).fit(x[train], rows["churned"][train])
    auc = roc_auc_score(rows["churned"][~train], model.predict_proba(x[~train])[:, 1])
    assert 0.72 < auc < 0.95, auc


# --------------------------------------------------------------------------- bad input, nothing committed


def _nothing_committed(settings) -> None:
    assert not tables.exists(trainset_uri(settings, "churn"))


@pytest.mark.parametrize(
    "ref, message",
    [
        ("nosuchset:logins", r"reference nosuchset:logins: feature set 'nosuchset' is not registered"),
        (
            "account_activity:nosuch",
            r"reference account_activity:nosuch: feature set 'account_activity' has no feature 'nosuch'",
        ),
    ],
)
def test_unknown_feature_reference(churn, ref, message):
    with pytest.raises(FeatureError, match=message):
        features.build_trainset(spec(features=["account_activity:logins", ref]), churn)
    _nothing_committed(churn)


@pytest.mark.parametrize("engine", ["pandas", "spark"])
def test_key_type_mismatch(churn, spark, engine):
    labels = tables.to_pandas(tables.resolve_name(churn, "raw/churn_labels"))
    tables.write_pandas(
        labels.assign(customer_id=labels["customer_id"].astype(str)),
        tables.resolve_name(churn, "raw/labels_str"),
        mode="overwrite",
    )
    bad = spec(labels={**load_trainset_spec("churn").labels.model_dump(), "table": "raw/labels_str"})
    with pytest.raises(
        FeatureError,
        match=r"key column 'customer_id' is string in the labels but \w+ in feature set 'customer_profile'",
    ):
        features.build_trainset(bad, churn, engine=engine, spark=spark)
    _nothing_committed(churn)


def test_label_table_lacking_a_column(churn):
    bad = spec(labels={**load_trainset_spec("churn").labels.model_dump(), "label": ["churned", "nps"]})
    with pytest.raises(FeatureError, match=r"label table 'raw/churn_labels' has no column 'nps'"):
        features.build_trainset(bad, churn)
    _nothing_committed(churn)


def test_output_name_collision_and_unreferenced_pin(churn):
    with pytest.raises(FeatureError, match=r"output column 'logins' \(feature set 'account_activity'.*already taken"):
        features.build_trainset(spec(features=["account_activity:logins", "account_activity:logins"]), churn)
    with pytest.raises(FeatureError, match=r"pins feature set\(s\) it does not reference: support_contacts"):
        features.build_trainset(spec(features=["account_activity:logins"], pins={"support_contacts": 0}), churn)
    _nothing_committed(churn)


def test_aliases_and_manifest_reader_errors(churn):
    result = features.build_trainset(
        spec(features=["account_activity:logins", "account_activity:logins as logins_again"]), churn
    )
    rows = features.read_trainset("churn", result.version, churn)
    assert np.array_equal(rows["logins"].fillna(-1), rows["logins_again"].fillna(-1))
    with pytest.raises(FeatureError, match=r"training set 'churn' has no version 7 — versions: 0"):
        features.trainset_manifest("churn", 7, churn)
    with pytest.raises(FeatureError, match=r"training set 'other' has not been built"):
        features.read_trainset("other", settings=churn)
