"""``tables.read`` plans a plain table's scan from the log delta-rs read; Delta plans the rest.

The reference is delta-spark's own scan of the same version (``format("delta")``); which
planner ran is told by the Spark jobs a cold first read runs (Delta's state reconstruction
is four jobs before the data's).
"""

from __future__ import annotations

import os
from datetime import datetime

import pytest
from deltalake import DeltaTable
from pyspark.testing import assertDataFrameEqual
from spark_jobs import job_group

from mlplatform import tables
from mlplatform.errors import TableError
from mlplatform.tables.file_scan import MAX_FILES_CONF

_LISTING_THRESHOLD = "spark.sql.sources.parallelPartitionDiscovery.threshold"


def _delta(spark, table: str, version: int | None = None):
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(f"file://{table}")


def _cold_read_jobs(spark, table: str, **kwargs) -> tuple[object, int]:
    """The frame of a first read in a JVM that has not seen the table, and the jobs its plan and scan ran."""
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    with job_group(spark, "cold read") as group:
        frame = tables.read(spark, table, **kwargs)
        frame.collect()
    return frame, len(group.stages())


def test_a_plain_table_is_read_from_its_log_in_one_spark_job(spark, table):
    first = spark.createDataFrame(
        [("2024-06-01", i, f"c{i}") for i in range(40)] + [(None, 99, "no day")], "day string, id int, name string"
    )
    tables.write(first, table, partition_by=["day"])
    wider = "day string, id int, name string, x double"
    second = spark.createDataFrame([("2024-06-02", i, f"d{i}", i * 0.5) for i in range(5)], wider)
    tables.write(second, table, merge_schema=True)
    replaced = spark.createDataFrame([("2024-06-01", 7, "seven", 7.0)], wider)
    tables.write(replaced, table, replace_where="day = '2024-06-01'")

    frame, jobs = _cold_read_jobs(spark, table)
    assert jobs == 1
    reference = _delta(spark, table)
    assert [(f.name, f.dataType) for f in frame.schema] == [(f.name, f.dataType) for f in reference.schema]
    assert frame.columns[0] == "day"  # the partition column keeps its place in the schema
    assertDataFrameEqual(frame, reference)
    assert frame.filter("day = '2024-06-01'").count() == 1 and frame.filter("day is null").count() == 1
    # exactly the version's files: the ones replace_where removed are not read
    assert {f.removeprefix("file://") for f in frame.inputFiles()} == set(DeltaTable(table).file_uris())
    # time travel: the first version, before the column existed
    old, jobs = _cold_read_jobs(spark, table, version=0)
    assert jobs == 1 and old.columns == ["day", "id", "name"]
    assertDataFrameEqual(old, _delta(spark, table, version=0))
    assert spark.conf.get(_LISTING_THRESHOLD, None) is None  # the listing setting is put back


def test_descriptions_survive_the_file_scan(spark, table):
    tables.write(spark.createDataFrame([(1, "a")], "id int, s string"), table)
    tables.set_descriptions(table, columns={"id": "the customer"})
    frame = tables.read(spark, table)
    assert frame.schema["id"].metadata.get("comment") == _delta(spark, table).schema["id"].metadata.get("comment")
    assert frame.schema["id"].metadata.get("comment") == "the customer"


def test_an_empty_table_reads_as_no_rows_with_its_schema(spark, table):
    tables.write(spark.createDataFrame([], "id int, day date"), table, partition_by=["day"])
    frame = tables.read(spark, table)
    assert frame.count() == 0 and frame.schema == _delta(spark, table).schema


@pytest.mark.parametrize("case", ["above the file limit", "deletion vectors", "timestamp partitions"])
def test_delta_plans_the_scan_where_a_file_scan_would_be_wrong_or_slower(spark, table, case):
    df = spark.createDataFrame(
        [(i, datetime(2024, 6, 1 + i % 3), i % 3) for i in range(30)], "id int, at timestamp, part int"
    )
    tables.write(df, table, partition_by=["at" if case == "timestamp partitions" else "part"])
    if case == "deletion vectors":
        spark.sql(f"ALTER TABLE delta.`{table}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = true)")
        spark.sql(f"DELETE FROM delta.`{table}` WHERE id % 2 = 0")
    if case == "above the file limit":
        spark.conf.set(MAX_FILES_CONF, "2")
    try:
        frame, jobs = _cold_read_jobs(spark, table)
    finally:
        spark.conf.unset(MAX_FILES_CONF)
    assert jobs > 1  # Delta's state reconstruction ran
    assertDataFrameEqual(frame, _delta(spark, table))
    assert frame.count() == (15 if case == "deletion vectors" else 30)


def test_a_data_file_deleted_behind_deltas_back_is_named(spark, table):
    tables.write(spark.createDataFrame([(1, "a"), (2, "b")], "id int, s string").repartition(2), table)
    gone = DeltaTable(table).file_uris()[0]
    os.remove(gone)
    with pytest.raises(TableError, match=r"version 0 lists data files that are gone") as err:
        tables.read(spark, table)
    assert table in str(err.value) and os.path.basename(gone) in str(err.value)
