"""VACUUM and OPTIMIZE, with delta-spark when a session is given, else deltalake."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from mlplatform.tables.commits import committed_version, full_metadata
from mlplatform.tables.handle import open_table
from mlplatform.tables.local_write import optimize_local, vacuum_local
from mlplatform.tables.locate import normalize
from mlplatform.tables.reader import Filters, filters_sql
from mlplatform.tables.spark_io import optimize_spark, vacuum_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["vacuum", "optimize"]


def vacuum(
    table: str,
    retention_hours: float = 168,
    dry_run: bool = False,
    enforce_retention: bool = True,
    spark: "SparkSession | None" = None,
) -> list[str]:
    """Delete data files that no version newer than ``retention_hours`` needs; return them.

    Time travel to older versions stops working once their files are gone. Delta
    refuses a retention under 7 days unless ``enforce_retention=False``.

    Args:
        spark: run with delta-spark (large tables, deletion vectors); default deltalake.
    """
    uri = normalize(table)
    open_table(uri)
    if spark is not None:
        return vacuum_spark(spark, uri, retention_hours, dry_run, enforce_retention)
    return vacuum_local(uri, retention_hours, dry_run, enforce_retention)


def optimize(
    table: str,
    filters: Filters | None = None,
    z_order_by: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    spark: "SparkSession | None" = None,
) -> int:
    """Compact small files into larger ones (optionally Z-ordered by columns); return the version.

    Args:
        filters: DNF partition filters limiting which partitions are compacted.
        spark: run with delta-spark; default deltalake.
    """
    uri = normalize(table)
    dt, uri = open_table(uri)
    before = dt.version()
    meta = full_metadata(metadata)
    if spark is not None:
        names = {f.name for f in dt.schema().fields}
        optimize_spark(spark, uri, filters_sql(uri, names, filters, dialect="spark") or None, z_order_by, meta)
    else:
        optimize_local(uri, filters, z_order_by, meta)
    return committed_version(uri, meta, before)
