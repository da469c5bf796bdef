"""Delta tables: delta-spark in Spark, deltalake (delta-rs) without it.

One interface for every table the platform keeps (features, training sets,
scores, lineage):

- in Spark: :func:`read`, :func:`write` (append / overwrite / replace a partition),
  :func:`merge` (upsert on keys) — delta-spark;
- without Spark or a JVM: :func:`to_arrow`, :func:`to_pandas`, :func:`history`,
  :func:`describe`, :func:`exists`, :func:`version`, and :func:`write_pandas` for small
  driver-side tables — deltalake;
- both: :func:`vacuum`, :func:`optimize` (``spark=`` picks delta-spark).

Every commit carries :func:`commit_metadata` (job, run id, user, code version) as
JSON in its ``userMetadata``; a :class:`Txn` makes a write idempotent.

Example:
    >>> from mlplatform import tables
    >>> uri = tables.table_uri(settings, "features", "customers")       # doctest: +SKIP
    >>> v = tables.write(df, uri, partition_by=["day"])                 # doctest: +SKIP
    >>> tables.to_pandas(uri, filters=[("day", "=", "2024-06-01")])    # doctest: +SKIP
"""

from __future__ import annotations

from mlplatform.tables.checks import stats_columns_value
from mlplatform.tables.commits import (
    Commit,
    Txn,
    commit_metadata,
    history,
    written_rows,
)
from mlplatform.tables.handle import exists, version
from mlplatform.tables.local_write import set_descriptions, write_pandas
from mlplatform.tables.locate import resolve_name, table_uri
from mlplatform.tables.maintenance import optimize, vacuum
from mlplatform.tables.reader import (
    Column,
    TableInfo,
    describe,
    file_ranges,
    list_tables,
    to_arrow,
    to_pandas,
)
from mlplatform.tables.spark_io import merge, read, write

__all__ = [
    "table_uri",
    "resolve_name",
    "exists",
    "version",
    "read",
    "to_arrow",
    "to_pandas",
    "write",
    "merge",
    "write_pandas",
    "stats_columns_value",
    "set_descriptions",
    "history",
    "written_rows",
    "describe",
    "file_ranges",
    "list_tables",
    "vacuum",
    "optimize",
    "Txn",
    "Commit",
    "TableInfo",
    "Column",
    "commit_metadata",
]
