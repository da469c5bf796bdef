"""Ingestion on Spark: declared schema, idempotent merge, and bad sources refused with nothing committed."""

from __future__ import annotations

import pandas as pd
import pytest
from delta_log import stats_columns_written

from mlplatform import features, tables
from mlplatform.errors import FeatureError
from mlplatform.features import registry
from mlplatform.features.definitions import FeatureSetDef, load_feature_sets


def _definition(base_name: str, **changes) -> FeatureSetDef:
    base = next(d for d in load_feature_sets() if d.name == base_name).model_dump()
    base.update(changes)
    return FeatureSetDef(**base)


def test_ingested_tables_follow_their_definitions(churn):
    raw = tables.describe(tables.resolve_name(churn, "raw/activity"))
    info = tables.describe(features.feature_table(churn, "account_activity"))
    assert info.num_rows == raw.num_rows
    assert [(c.name, c.type) for c in info.columns] == [
        ("customer_id", "long"),
        ("event_time", "timestamp"),
        ("logins", "integer"),
        ("minutes", "double"),
        ("txn_count", "integer"),
        ("txn_amount", "double"),
        ("balance", "double"),
    ]
    # file statistics only on the grain (keys, event time): the features gain nothing from min/max
    assert stats_columns_written(info.path) == {"customer_id", "event_time"}
    commit = tables.history(info.path)[0]
    reg = registry.get(churn, "account_activity")
    assert commit.metadata["feature_set"] == "account_activity"
    assert commit.metadata["definition_hash"] == reg.definition_hash and commit.metadata["rows"] == info.num_rows
    rollups = features.read("activity_rollups", settings=churn)
    one = rollups[rollups["customer_id"] == rollups["customer_id"].iloc[0]]
    assert (one["logins_30d"] >= one["logins_7d"]).all() and one["active_days_30d"].between(1, 30).all()


def test_merge_is_idempotent_and_lands_late_rows(churn, spark):
    uri = features.feature_table(churn, "account_activity")
    before = tables.describe(uri)
    raw = tables.resolve_name(churn, "raw/activity")
    activity = tables.to_pandas(raw)
    late = activity.iloc[[0]].assign(event_time=pd.Timestamp("2023-12-30 23:59:59", tz="UTC"))
    tables.write_pandas(late, raw, mode="append")
    result = features.ingest(spark, churn, "account_activity")
    assert result.id == f"fs:account_activity@v{result.version}" and result.version > before.version
    after = tables.describe(uri)
    assert after.num_rows == before.num_rows + 1
    old = features.read("account_activity", version=before.version, settings=churn)
    assert len(old) == before.num_rows  # the previous version stays readable


def _register(settings, definition) -> None:
    registry.apply(settings, [definition])


def _refused(settings, spark, name: str, message: str) -> None:
    uri = features.feature_table(settings, name)
    version = tables.version(uri) if tables.exists(uri) else None
    with pytest.raises(FeatureError, match=message):
        features.ingest(spark, settings, name)
    assert (tables.version(uri) if tables.exists(uri) else None) == version


def test_source_lacking_a_declared_column(churn, spark):
    base = _definition("account_activity")
    extra = base.model_dump()
    extra["features"] = extra["features"] + [{"name": "nps", "type": "int32", "description": ""}]
    _register(churn, FeatureSetDef(**extra))
    _refused(
        churn, spark, "account_activity", r"feature set 'account_activity': the source lacks declared column\(s\) 'nps'"
    )


def test_duplicate_key_time_rows_null_keys_and_wrong_types(churn, spark):
    raw = tables.resolve_name(churn, "raw/activity")
    activity = tables.to_pandas(raw).head(200)
    cases = {
        "dups": (
            pd.concat([activity, activity.iloc[[5]]]),
            r"feature set 'dups': duplicate \(customer_id, event_time\) rows, "
            r"e.g. customer_id=\d+, event_time=.* appears 2 times",
        ),
        "nullkeys": (
            activity.assign(customer_id=activity["customer_id"].astype("Int64").where(activity.index != 3)),
            r"feature set 'nullkeys': 1 row\(s\) with null 'customer_id'",
        ),
        "badtype": (
            activity.assign(logins=activity["logins"].astype(str)),
            r"feature set 'badtype': column 'logins' is string in the source but declared int32",
        ),
    }
    for name, (frame, message) in cases.items():
        tables.write_pandas(frame, tables.resolve_name(churn, f"raw/{name}"), mode="overwrite")
        _register(churn, _definition("account_activity", name=name, source={"table": f"raw/{name}"}))
        _refused(churn, spark, name, message)
        assert not tables.exists(features.feature_table(churn, name))


def test_append_refuses_rows_already_there_and_unknown_set(churn, spark):
    with pytest.raises(FeatureError, match=r"append would repeat rows already in the table, e.g. customer_id="):
        features.ingest(spark, churn, "customer_profile", mode="append")
    with pytest.raises(FeatureError, match=r"feature set 'nosuch' is not registered \(registered: account_activity, "):
        features.ingest(spark, churn, "nosuch")
