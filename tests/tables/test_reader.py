"""Reading and writing without Spark (deltalake): contract, filters, time travel, bad input."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow as pa
import pytest

from mlplatform import tables
from mlplatform.errors import TableError
from mlplatform.tables.reader import plain_types


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "k": ["A", "B", None, "a/b c=d%", "é ü"],
            "v": [1, 2, 3, 4, 5],
            "tags": [["x"], ["y", "z"], [], None, ["w"]],
            "info": [{"s": "1"}, {"s": "2"}, {"s": None}, {"s": "4"}, {"s": "5"}],
        }
    )


def test_write_pandas_round_trip_with_partitions_nulls_and_special_characters(table):
    version = tables.write_pandas(_frame(), table, partition_by=["k"])
    assert version == 0
    out = tables.to_pandas(table).sort_values("v").reset_index(drop=True)
    assert out["k"].tolist() == ["A", "B", None, "a/b c=d%", "é ü"]
    assert out["v"].tolist() == [1, 2, 3, 4, 5]
    assert out["tags"].map(lambda x: None if x is None else list(x)).tolist() == [["x"], ["y", "z"], [], None, ["w"]]
    assert out["info"].tolist()[0] == {"s": "1"}
    # nested view types are cast to plain ones, so pandas can hold them
    schema = tables.to_arrow(table).schema
    assert schema.field("k").type == pa.string()
    assert schema.field("tags").type.value_type == pa.string()
    assert schema.field("info").type.field("s").type == pa.string()


@pytest.mark.parametrize(
    "filters, expected",
    [
        ([("k", "=", "A")], [1]),
        ([("k", "=", None)], [3]),
        ([("k", "!=", None)], [1, 2, 4, 5]),
        ([("k", "=", "a/b c=d%")], [4]),
        ([("k", "in", ["B", "é ü"])], [2, 5]),
        ([("k", "not in", ["A"]), ("v", ">=", 4)], [4, 5]),
        ([[("k", "=", "A")], [("v", "<", 3), ("v", ">", 1)]], [1, 2]),
        ([("k", "in", [])], []),
        ([("k", "=", "it's")], []),
    ],
)
def test_filters_select_the_same_rows_as_pandas(table, filters, expected):
    tables.write_pandas(_frame(), table, partition_by=["k"])
    out = tables.to_pandas(table, columns=["v"], filters=filters)
    assert sorted(out["v"].tolist()) == expected
    assert list(out.columns) == ["v"]


def test_columns_keep_the_requested_order_and_limit(table):
    tables.write_pandas(_frame(), table)
    out = tables.to_pandas(table, columns=["v", "k"], limit=2)
    assert list(out.columns) == ["v", "k"] and len(out) == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"columns": ["nope"]}, "has no column(s) 'nope'"),
        ({"columns": "v"}, "must be a list of names"),
        ({"filters": [("nope", "=", 1)]}, "names column 'nope'"),
        ({"filters": [("v", "~", 1)]}, "unknown operator"),
        ({"filters": [("v", "<", None)]}, "compares with None"),
        ({"filters": [("v", "in", 3)]}, "needs a list of values"),
        ({"filters": [("v", "=", object())]}, "unsupported type"),
        ({"filters": ["v = 1"]}, "not in DNF form"),
        ({"filters": [[("v", "=")]]}, "is not a (column, op, value) tuple"),
        ({"version": 5}, "has no version 5"),
        ({"version": 0, "timestamp": "2024-01-01"}, "not both"),
        ({"timestamp": "yesterday"}, "is not ISO 8601"),
        ({"limit": -1}, "not a non-negative integer"),
    ],
)
def test_bad_read_arguments_name_the_table_and_the_problem(table, kwargs, message):
    tables.write_pandas(_frame(), table)
    with pytest.raises(TableError) as err:
        tables.to_pandas(table, **kwargs)
    assert message in str(err.value) and table in str(err.value)


def test_missing_table_is_named(tmp_path):
    missing = str(tmp_path / "nope")
    assert not tables.exists(missing)
    for call in (
        lambda: tables.version(missing),
        lambda: tables.to_pandas(missing),
        lambda: tables.history(missing),
        lambda: tables.describe(missing),
    ):
        with pytest.raises(TableError, match="does not exist") as err:
            call()
        assert missing in str(err.value)


def test_time_travel_by_version_and_timestamp(table):
    stamps = []
    for value in range(3):
        tables.write_pandas(pd.DataFrame({"v": [value]}), table)
        stamps.append(datetime.now(timezone.utc))
        time.sleep(0.05)
    assert tables.version(table) == 2
    assert tables.to_pandas(table, version=1)["v"].sort_values().tolist() == [0, 1]
    assert tables.to_pandas(table, timestamp=stamps[0])["v"].tolist() == [0]
    assert sorted(tables.to_pandas(table, timestamp=stamps[1].isoformat())["v"]) == [0, 1]
    # a naive timestamp is UTC
    assert len(tables.to_pandas(table, timestamp=stamps[2].replace(tzinfo=None))) == 3
    with pytest.raises(TableError, match="has no version at .* oldest available commit, version 0"):
        tables.to_pandas(table, timestamp=stamps[0] - timedelta(hours=1))


def test_history_carries_platform_metadata_newest_first(table, monkeypatch):
    monkeypatch.setenv("MLP_RUN_ID", "run-7")
    monkeypatch.setenv("MLP_CODE_VERSION", "v1.2.3")
    tables.write_pandas(pd.DataFrame({"v": [1]}), table, metadata={"job": "ingest", "rows": 1})
    tables.write_pandas(pd.DataFrame({"v": [2]}), table, mode="overwrite")
    commits = tables.history(table)
    assert [c.version for c in commits] == [1, 0]
    first = commits[1]
    assert first.metadata["job"] == "ingest" and first.metadata["rows"] == 1
    assert first.metadata["run_id"] == "run-7" and first.metadata["code_version"] == "v1.2.3" and first.metadata["user"]
    assert first.operation == "WRITE" and first.timestamp.tzinfo is not None
    assert [c.version for c in tables.history(table, limit=1)] == [1]
    assert tables.written_rows(table, 0) == 1
    with pytest.raises(TableError, match="not positive"):
        tables.history(table, limit=0)


def test_txn_write_is_applied_once(table):
    key = tables.Txn("daily-load", 20240601)
    first = tables.write_pandas(pd.DataFrame({"v": [1, 2]}), table, txn=key)
    again = tables.write_pandas(pd.DataFrame({"v": [1, 2]}), table, txn=key)
    assert first == again == 0
    assert len(tables.to_pandas(table)) == 2
    tables.write_pandas(pd.DataFrame({"v": [3]}), table, txn=tables.Txn("daily-load", 20240602))
    assert len(tables.to_pandas(table)) == 3
    with pytest.raises(TableError, match="not a non-negative integer"):
        tables.Txn("daily-load", -1)
    with pytest.raises(TableError, match="is empty"):
        tables.Txn(" ", 1)


def test_write_pandas_schema_rules(table):
    tables.write_pandas(pd.DataFrame({"k": ["a"], "v": [1]}), table)
    # ints that fit are cast to the table's type; a new column needs merge_schema
    with pytest.raises(TableError, match="merge_schema=True") as err:
        tables.write_pandas(pd.DataFrame({"k": ["b"], "v": [2], "extra": [1.5]}), table)
    assert table in str(err.value)
    tables.write_pandas(pd.DataFrame({"k": ["b"], "v": [2], "extra": [1.5]}), table, merge_schema=True)
    assert tables.to_pandas(table).sort_values("k")["extra"].tolist()[1] == 1.5
    with pytest.raises(TableError, match="do not match its schema"):
        tables.write_pandas(pd.DataFrame({"k": ["c"], "v": ["not a number"]}), table)
    with pytest.raises(TableError, match="partitioned by nothing"):
        tables.write_pandas(pd.DataFrame({"k": ["c"], "v": [3]}), table, partition_by=["k"])
    with pytest.raises(TableError, match="write mode 'upsert'"):
        tables.write_pandas(pd.DataFrame({"k": ["c"], "v": [3]}), table, mode="upsert")
    assert tables.version(table) == 1  # nothing half-committed


def test_untyped_column_of_a_new_table_is_refused(table):
    with pytest.raises(TableError, match="no type") as err:
        tables.write_pandas(pd.DataFrame({"k": pd.Series([], dtype=object), "v": pd.Series([], dtype="int64")}), table)
    assert "'k'" not in str(err.value) and "k" in str(err.value)
    assert not tables.exists(table)


def test_descriptions_are_kept_in_delta_metadata(table):
    tables.write_pandas(pd.DataFrame({"k": ["a"], "v": [1]}), table, description="customer features")
    assert tables.set_descriptions(table, columns={"v": "visits in the last 30 days"}) == 1
    assert tables.set_descriptions(table, columns={"v": "visits in the last 30 days"}) is None
    info = tables.describe(table)
    assert info.description == "customer features"
    assert info.column_descriptions == {"v": "visits in the last 30 days"}
    assert [c.name for c in info.schema] == ["k", "v"] and [c.type for c in info.schema] == ["string", "long"]
    with pytest.raises(TableError, match="no column"):
        tables.set_descriptions(table, columns={"nope": "x"})


def test_describe_counts_rows_from_log_stats(table):
    tables.write_pandas(_frame(), table, partition_by=["k"])
    tables.write_pandas(_frame(), table)
    info = tables.describe(table)
    assert (info.num_rows, info.num_rows_source, info.version) == (10, "log stats", 1)
    assert info.num_files == 10 and info.size_bytes > 0 and info.partition_columns == ["k"]


def test_vacuum_and_optimize_without_spark(table):
    for value in range(4):
        tables.write_pandas(pd.DataFrame({"v": [value]}), table)
    version = tables.optimize(table, metadata={"job": "compact"})
    assert version == 4 and tables.history(table, limit=1)[0].metadata["job"] == "compact"
    assert tables.describe(table).num_files == 1
    removed = tables.vacuum(table, retention_hours=0, enforce_retention=False)
    assert len(removed) == 4
    assert sorted(tables.to_pandas(table)["v"]) == [0, 1, 2, 3]
    with pytest.raises(TableError, match="vacuum refused"):
        tables.vacuum(table, retention_hours=0)


def test_table_uri_and_name_resolution(settings):
    assert tables.table_uri(settings, "features", "customers") == f"{settings.warehouse}/features/customers"
    remote = settings.model_copy(update={"warehouse": "hdfs://nn:9000/wh/"})
    assert tables.table_uri(remote, "scores", "m") == "hdfs://nn:9000/wh/scores/m"
    assert tables.resolve_name(settings, "features/customers") == f"{settings.warehouse}/features/customers"
    assert tables.resolve_name(settings, "file:///x/y") == "/x/y"
    for bad in ((), ("",), ("a/../b",), ("/abs",)):
        with pytest.raises(TableError, match="not valid"):
            tables.table_uri(settings, *bad)


def test_plain_types_casts_views_inside_maps_and_lists():
    views = pa.table(
        {
            "m": pa.array([[("a", "b")]], pa.map_(pa.string_view(), pa.string_view())),
            "l": pa.array([[b"x"]], pa.large_list(pa.binary_view())),
        }
    )
    plain = plain_types(views)
    assert plain.schema.field("m").type == pa.map_(pa.string(), pa.string())
    assert plain.schema.field("l").type == pa.large_list(pa.binary())
    assert plain.to_pandas()["m"][0] == [("a", "b")]


def test_list_tables_finds_tables_without_descending_into_them(tmp_path):
    root = tmp_path / "wh"
    for name in ("features/a", "_platform/lineage", "scores/m", ".hidden/t", "a/b/c/d/e/too_deep"):
        tables.write_pandas(pd.DataFrame({"k": ["x"], "v": [1]}), str(root / name), partition_by=["k"])
    (root / "empty" / "dir").mkdir(parents=True)
    found = [p[len(str(root)) + 1 :] for p in tables.list_tables(str(root))]
    assert found == ["_platform/lineage", "features/a", "scores/m"]
    assert tables.list_tables(str(tmp_path / "missing")) == []
