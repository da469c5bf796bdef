"""Tables written by other engines (Spark + Delta Lake test data) and by each of our two engines.

Every table in the Delta test data in tests/data/delta is read through Spark (delta-spark) and through
deltalake; the two must agree with each other and with the README's counts.
"""

from __future__ import annotations

import pandas as pd
import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from mlplatform import tables
from mlplatform.errors import TableError

from .conftest import EXPECTED, TESTDATA


def _rows(table: str, **kwargs) -> list[Row]:
    return [Row(**r) for r in tables.to_arrow(table, **kwargs).to_pylist()]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_both_readers_return_the_rows_the_readme_states(spark, name):
    table = str(TESTDATA / name)  # read-only here
    expected = EXPECTED[name]
    pandas_rows = tables.to_pandas(table)
    assert len(pandas_rows) == expected["rows"]
    spark_rows = tables.read(spark, table)
    assert spark_rows.count() == expected["rows"]
    assertDataFrameEqual(spark_rows, _rows(table))
    if "version" in expected:
        assert tables.version(table) == expected["version"]
    if "columns" in expected:
        assert list(pandas_rows.columns) == expected["columns"] and spark_rows.columns == expected["columns"]
    if "values" in expected:
        assert sorted(pandas_rows["value"]) == expected["values"]
    info = tables.describe(table)
    assert info.num_rows == expected["rows"]


def test_deletion_vectors_are_honored_and_counted_by_scanning():
    table = str(TESTDATA / "table-with-dv-small")
    info = tables.describe(table)
    assert (info.num_rows, info.num_rows_source) == (8, "scan")
    assert "deletionVectors" in info.features


def test_partition_values_come_from_the_log(spark):
    mapped = str(TESTDATA / "table_with_column_mapping")
    some = tables.to_pandas(mapped).iloc[0]["Company Very Short"]
    filtered = tables.to_pandas(mapped, filters=[("Company Very Short", "=", some)])
    assert set(filtered["Company Very Short"]) == {some}
    assert len(filtered) == tables.read(spark, mapped).where(f"`Company Very Short` = '{some}'").count()
    nulls = str(TESTDATA / "delta-0.8.0-null-partition")
    assert (
        len(tables.to_pandas(nulls, filters=[("k", "=", None)]))
        == tables.read(spark, nulls).where("k is null").count()
        == 1
    )
    typed = tables.to_arrow(str(TESTDATA / "delta-2.2.0-partitioned-types"))
    assert str(typed.schema.field("c1").type) == "int32"


def test_time_travel_over_commits_with_removes(spark):
    table = str(TESTDATA / "simple_table")
    for version in range(5):
        assertDataFrameEqual(tables.read(spark, table, version=version), _rows(table, version=version))
    checkpointed = str(TESTDATA / "simple_table_with_checkpoint")
    assert len(tables.to_pandas(checkpointed, version=3)) == tables.read(spark, checkpointed, version=3).count()


@pytest.mark.parametrize(
    "name", ["simple_table", "delta-0.8.0-special-partition", "table_with_column_mapping", "table-with-dv-small"]
)
def test_both_engines_append_to_foreign_tables_and_each_reads_the_others_commit(spark, copy_testdata, name):
    table = copy_testdata(name)
    before = tables.version(table)
    sample = tables.read(spark, table).limit(1)
    tables.write(sample, table, metadata={"job": "spark-append"})
    tables.write_pandas(tables.to_pandas(table, limit=1), table, metadata={"job": "pandas-append"})
    assert tables.version(table) == before + 2
    assertDataFrameEqual(tables.read(spark, table), _rows(table))
    assert len(tables.to_pandas(table)) == EXPECTED[name]["rows"] + 2
    assert [c.metadata.get("job") for c in tables.history(table, limit=2)] == ["pandas-append", "spark-append"]


@pytest.fixture(scope="module")
def feature_tables(spark, tmp_path_factory):
    """Tables written by Spark with features deltalake cannot read or write."""
    from delta.tables import DeltaTable

    root = tmp_path_factory.mktemp("features")
    made = {}
    for name, columns, props in [
        ("widened", [("id", "INT")], {"delta.enableTypeWidening": "true"}),
        ("variant", [("id", "INT"), ("v", "VARIANT")], {}),
        ("row_tracking", [("id", "INT")], {"delta.enableRowTracking": "true"}),
    ]:
        path = str(root / name)
        builder = DeltaTable.create(spark).location(path)
        for column, kind in columns:
            builder = builder.addColumn(column, kind)
        for key, value in props.items():
            builder = builder.property(key, value)
        builder.execute()
        made[name] = path
    spark.sql(f"INSERT INTO delta.`{made['widened']}` VALUES (1)")
    spark.sql(f"ALTER TABLE delta.`{made['widened']}` CHANGE COLUMN id TYPE BIGINT")
    spark.sql(f"INSERT INTO delta.`{made['widened']}` VALUES (10000000000)")
    spark.sql(f"INSERT INTO delta.`{made['variant']}` SELECT 1, parse_json('{{\"a\": 1}}')")
    spark.sql(f"INSERT INTO delta.`{made['row_tracking']}` VALUES (1)")
    return made


def test_features_deltalake_cannot_honor_are_refused_not_misread(spark, feature_tables):
    widened = feature_tables["widened"]
    with pytest.raises(TableError, match="reader feature.*typeWidening.*tables.read\\(spark, table\\)") as err:
        tables.to_pandas(widened)
    assert widened in str(err.value)
    assert sorted(r.id for r in tables.read(spark, widened).collect()) == [1, 10000000000]
    variant = feature_tables["variant"]
    with pytest.raises(TableError, match="type variant"):
        tables.to_pandas(variant)
    assert tables.to_pandas(variant, columns=["id"])["id"].tolist() == [1]
    tracked = feature_tables["row_tracking"]
    assert tables.to_pandas(tracked)["id"].tolist() == [1]
    with pytest.raises(TableError, match="deltalake cannot write.*tables.write") as err:
        tables.write_pandas(pd.DataFrame({"id": [2]}), tracked)
    assert tracked in str(err.value)
    assert tables.write(spark.createDataFrame([(2,)], "id int"), tracked) == 2
    assert sorted(tables.to_pandas(tracked)["id"]) == [1, 2]
