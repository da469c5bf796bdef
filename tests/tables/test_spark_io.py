"""The Spark side (delta-spark) of the interface, checked against the no-Spark reader."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from mlplatform import tables
from mlplatform.errors import TableError


def _rows(table: str, **kwargs) -> list[Row]:
    """What deltalake reads, as Spark rows (the independent reader)."""
    return [Row(**r) for r in tables.to_arrow(table, **kwargs).to_pylist()]


def _scores(spark, day: str, *values: float):
    return spark.createDataFrame(
        [(f"c{i}", v, day) for i, v in enumerate(values)], "id string, score double, run_date string"
    )


def test_write_read_and_both_readers_agree(spark, table):
    df = spark.createDataFrame([(1, "a", None), (2, None, 2.5), (3, "c/d e", 3.5)], "id int, s string, x double")
    assert tables.write(df, table) == 0
    assert tables.write(df.limit(1), table) == 1
    out = tables.read(spark, table)
    assertDataFrameEqual(out, df.union(df.limit(1)))
    assertDataFrameEqual(out, _rows(table))
    assertDataFrameEqual(tables.read(spark, table, version=0), _rows(table, version=0))
    assert tables.read(spark, table, columns=["s", "id"]).columns == ["s", "id"]


def test_replace_where_replaces_one_partition_atomically(spark, table):
    tables.write(_scores(spark, "2024-06-01", 0.1, 0.2), table, partition_by=["run_date"])
    tables.write(_scores(spark, "2024-06-02", 0.3), table)
    version = tables.write(_scores(spark, "2024-06-01", 0.9), table, replace_where="run_date = '2024-06-01'")
    assert version == 2
    assertDataFrameEqual(
        tables.read(spark, table), _scores(spark, "2024-06-02", 0.3).union(_scores(spark, "2024-06-01", 0.9))
    )
    assert tables.history(table, limit=1)[0].operation_parameters.get("predicate")
    # rows outside the predicate are refused, nothing is committed
    with pytest.raises(TableError, match="do not match replace_where") as err:
        tables.write(_scores(spark, "2024-06-03", 0.5), table, replace_where="run_date = '2024-06-01'")
    assert table in str(err.value) and tables.version(table) == 2


def test_partition_values_with_nulls_and_special_characters(spark, table):
    keys = ["A", None, "a/b c=d%", "x:y", "é"]
    df = spark.createDataFrame([(k, i) for i, k in enumerate(keys)], "k string, v int")
    tables.write(df, table, partition_by=["k"])
    assertDataFrameEqual(tables.read(spark, table), _rows(table))
    for key in keys:
        assert tables.to_pandas(table, filters=[("k", "=", key)])["v"].tolist() == [keys.index(key)]
    tables.write(df.where("k is null").selectExpr("k", "v + 10 as v"), table, replace_where="k is null")
    assert tables.to_pandas(table, filters=[("k", "=", None)])["v"].tolist() == [11]
    assert tables.describe(table).num_rows == 5


def test_overwrite_and_schema_evolution(spark, table):
    tables.write(spark.createDataFrame([(1, "a")], "id int, s string"), table)
    wider = spark.createDataFrame([(2, "b", 0.5)], "id int, s string, extra double")
    with pytest.raises(TableError, match="merge_schema=True") as err:
        tables.write(wider, table)
    assert table in str(err.value) and tables.version(table) == 0
    tables.write(wider, table, merge_schema=True)
    assertDataFrameEqual(tables.read(spark, table), [Row(id=1, s="a", extra=None), Row(id=2, s="b", extra=0.5)])
    assertDataFrameEqual(tables.read(spark, table), _rows(table))
    with pytest.raises(TableError, match="schema does not match") as err:
        tables.write(spark.createDataFrame([("x", "c", 1.0)], "id string, s string, extra double"), table)
    assert "cast the column" in str(err.value) and tables.version(table) == 1
    tables.write(spark.createDataFrame([(9, "z", 9.0)], "id int, s string, extra double"), table, mode="overwrite")
    assert tables.to_pandas(table)["id"].tolist() == [9]
    assert len(tables.to_pandas(table, version=1)) == 2


def test_bad_write_arguments_fail_before_spark_runs(spark, table):
    df = spark.createDataFrame([(1,)], "id int")
    tables.write(df, table)
    for kwargs, message in [
        ({"mode": "upsert"}, "write mode 'upsert'"),
        ({"partition_by": "id"}, "must be a list of column names"),
        ({"partition_by": ["id"]}, "partitioned by nothing"),
        ({"replace_where": " "}, "must be a SQL predicate"),
    ]:
        with pytest.raises(TableError, match=message):
            tables.write(df, table, **kwargs)
    assert tables.version(table) == 0
    with pytest.raises(TableError, match="does not exist"):
        tables.read(spark, table + "-missing")
    with pytest.raises(TableError, match="has no column"):
        tables.read(spark, table, columns=["nope"])
    with pytest.raises(TableError, match="has no version 3"):
        tables.read(spark, table, version=3)


def test_merge_upserts_on_keys_and_creates_the_table(spark, table):
    first = spark.createDataFrame([("a", 1, 1.0), ("b", 1, 2.0), (None, 1, 3.0)], "k string, d int, v double")
    assert tables.merge(first, table, keys=["k", "d"]) == 0
    update = spark.createDataFrame([("b", 1, 20.0), ("c", 1, 30.0), (None, 1, 33.0)], "k string, d int, v double")
    assert tables.merge(update, table, keys=["k", "d"], metadata={"job": "upsert"}) == 1
    expected = [Row(k="a", d=1, v=1.0), Row(k="b", d=1, v=20.0), Row(k="c", d=1, v=30.0), Row(k=None, d=1, v=33.0)]
    assertDataFrameEqual(tables.read(spark, table), expected)
    assertDataFrameEqual(tables.read(spark, table), _rows(table))
    commit = tables.history(table, limit=1)[0]
    assert commit.operation == "MERGE" and commit.metadata["job"] == "upsert"


def test_merge_refuses_bad_keys_and_duplicates(spark, table):
    df = spark.createDataFrame([("a", 1)], "k string, v int")
    tables.merge(df, table, keys=["k"])
    dupes = spark.createDataFrame([("b", 1), ("b", 2)], "k string, v int")
    with pytest.raises(TableError, match="2 rows with keys {'k': 'b'}"):
        tables.merge(dupes, table, keys=["k"])
    with pytest.raises(TableError, match="no key column"):
        tables.merge(df, table, keys=["nope"])
    with pytest.raises(TableError, match="non-empty list"):
        tables.merge(df, table, keys="k")
    with pytest.raises(TableError, match="table .* has no key column"):
        tables.merge(df.withColumnRenamed("k", "k2"), table, keys=["k2"])
    assert tables.version(table) == 0


def test_idempotent_write_and_merge_with_txn(spark, table):
    day = tables.Txn("nightly", 20240601)
    df = _scores(spark, "2024-06-01", 0.1, 0.2)
    assert tables.write(df, table, txn=day) == 0
    assert tables.write(df, table, txn=day) == 0  # a re-run after a crash: skipped
    assert tables.to_pandas(table).shape[0] == 2
    upsert = tables.Txn("upsert", 1)
    assert tables.merge(_scores(spark, "2024-06-01", 0.5), table, keys=["id"], txn=upsert) == 1
    assert tables.merge(_scores(spark, "2024-06-01", 0.5), table, keys=["id"], txn=upsert) == 1
    assert tables.version(table) == 1
    # the txn markers live in the Delta log, where the other engine sees them
    tables.write_pandas(pd.DataFrame({"id": ["c9"], "score": [0.0], "run_date": ["x"]}), table, txn=day)
    assert tables.version(table) == 1


def test_time_travel_by_timestamp_matches_in_both_readers(spark, table):
    stamps = []
    for value in range(3):
        tables.write(spark.createDataFrame([(value,)], "v int"), table)
        stamps.append(datetime.now(timezone.utc))
        time.sleep(0.05)
    for when in stamps:
        spark_rows = tables.read(spark, table, timestamp=when)
        assertDataFrameEqual(spark_rows, _rows(table, timestamp=when))
    assert tables.read(spark, table, timestamp=stamps[1]).count() == 2
    with pytest.raises(TableError, match="no version at"):
        tables.read(spark, table, timestamp="2001-01-01T00:00:00")


def test_commit_metadata_is_readable_from_both_engines(spark, table, monkeypatch):
    monkeypatch.setenv("MLP_RUN_ID", "r-1")
    tables.write(spark.createDataFrame([(1,)], "v int"), table, metadata={"job": "spark-job"})
    tables.write_pandas(pd.DataFrame({"v": [2]}), table, metadata={"job": "pandas-job"})
    # deltalake reads both
    assert [c.metadata["job"] for c in tables.history(table)] == ["pandas-job", "spark-job"]
    assert {c.metadata["run_id"] for c in tables.history(table)} == {"r-1"}
    # Spark reads both
    import json

    from delta.tables import DeltaTable

    spark_history = DeltaTable.forPath(spark, table).history().orderBy("version").collect()
    assert [json.loads(r.userMetadata)["job"] for r in spark_history] == ["spark-job", "pandas-job"]


def test_descriptions_from_spark_and_deltalake_meet(spark, table):
    df = spark.createDataFrame([(1, "a")], "id int, s string")
    commented = df.withColumn("s", df["s"].alias("s", metadata={"comment": "a label"}))
    version = tables.write(commented, table, description="labels table")
    assert version == 1  # data commit, then the description commit
    info = tables.describe(table)
    assert info.description == "labels table" and info.column_descriptions == {"s": "a label"}
    tables.set_descriptions(table, columns={"id": "the id"})
    described = {r.col_name: r.comment for r in spark.sql(f"DESCRIBE TABLE delta.`{table}`").collect()}
    assert described["id"] == "the id" and described["s"] == "a label"
    assert tables.write(df, table, description="labels table") == 3  # unchanged description: no extra commit


def test_vacuum_and_optimize_with_spark(spark, table):
    for value in range(3):
        tables.write(spark.createDataFrame([(value,)], "v int").coalesce(1), table)
    version = tables.optimize(table, spark=spark, metadata={"job": "compact"})
    assert version == 3 and tables.history(table, limit=1)[0].operation == "OPTIMIZE"
    assert tables.describe(table).num_files == 1
    assert tables.vacuum(table, spark=spark, dry_run=True) == []
    removed = tables.vacuum(table, spark=spark, retention_hours=0, enforce_retention=False)
    assert len(removed) == 3
    assertDataFrameEqual(tables.read(spark, table), _rows(table))
    with pytest.raises(TableError, match="vacuum refused"):
        tables.vacuum(table, spark=spark, retention_hours=0)


def test_stats_columns_limit_file_statistics_to_named_columns(spark, table):
    df = spark.createDataFrame([(1, "a", 0.5)], "id int, s string, x double")
    tables.write(df, table, stats_columns=["id"])
    assert tables.describe(table).properties == {"delta.dataSkippingStatsColumns": "id"}
    actions = pa.table(DeltaTable(table).get_add_actions(flatten=True)).column_names
    assert "min.id" in actions and not any(c.endswith(".s") or c.endswith(".x") for c in actions)
    assert tables.describe(table).num_rows_source == "log stats"  # numRecords is always kept
    tables.write(df, table, stats_columns=["id"])
    with pytest.raises(TableError, match="records statistics for id, not s"):
        tables.write(df, table, stats_columns=["s"])
    with pytest.raises(TableError, match="does not have"):
        tables.write(df, table, stats_columns=["nope"])
