"""Argument checks shared by the Spark and the deltalake writers, run before any work."""

from __future__ import annotations

from typing import Sequence

from mlplatform.errors import TableError
from mlplatform.tables.handle import exists, open_table
from mlplatform.tables.reader import quote_ident

__all__ = ["check_write_args", "write_mode", "stats_properties", "MODES", "STATS_COLUMNS_PROPERTY"]

MODES = ("append", "overwrite")
STATS_COLUMNS_PROPERTY = "delta.dataSkippingStatsColumns"


def write_mode(uri: str, mode: str, replace_where: str | None) -> str:
    """The mode a write runs in: ``overwrite`` for a ``replace_where`` write, which must be a SQL predicate string."""
    if replace_where is None:
        return mode
    if not isinstance(replace_where, str) or not replace_where.strip():
        raise TableError(
            f"replace_where for table {uri} must be a SQL predicate string",
            "e.g. replace_where=\"run_date = '2024-06-01'\"",
        )
    return "overwrite"


def check_write_args(uri: str, mode: str, partition_by: Sequence[str] | None) -> None:
    """A supported mode, and partition columns that match the table's when it exists."""
    if mode not in MODES:
        raise TableError(
            f"write mode {mode!r} for table {uri} is not supported",
            "use mode='append' or mode='overwrite' (Spark: with replace_where to replace a partition)",
        )
    if partition_by is None:
        return
    if isinstance(partition_by, str) or not all(isinstance(c, str) for c in partition_by):
        raise TableError(
            f"partition_by for table {uri} must be a list of column names, got {partition_by!r}",
            f"write partition_by=[{partition_by!r}]",
        )
    if exists(uri):
        current = list(open_table(uri)[0].metadata().partition_columns)
        if list(partition_by) != current:
            raise TableError(
                f"table {uri} is partitioned by {current or 'nothing'}, not {list(partition_by)}",
                "leave partition_by out for an existing table, or write a new table",
            )


def stats_columns_value(columns: Sequence[str]) -> str:
    """The ``delta.dataSkippingStatsColumns`` value naming ``columns`` (quoted where they need it)."""
    return ",".join(c if c.isidentifier() else quote_ident(c, "spark") for c in columns)


def stats_properties(uri: str, columns: Sequence[str], stats_columns: Sequence[str] | None) -> dict[str, str]:
    """Table properties that limit file statistics to ``stats_columns`` (set when the table is created)."""
    if stats_columns is None:
        return {}
    if isinstance(stats_columns, str) or not all(isinstance(c, str) for c in stats_columns):
        raise TableError(
            f"stats_columns for table {uri} must be a list of column names, got {stats_columns!r}",
            f"write stats_columns=[{stats_columns!r}]",
        )
    unknown = [c for c in stats_columns if c not in columns]
    if unknown:
        raise TableError(
            f"stats_columns for table {uri} name column(s) {unknown} the DataFrame does not have",
            f"its columns are: {', '.join(columns)}",
        )
    wanted = stats_columns_value(stats_columns)
    if exists(uri):
        current = open_table(uri)[0].metadata().configuration.get(STATS_COLUMNS_PROPERTY)
        if current != wanted:
            raise TableError(
                f"table {uri} records statistics for {current or 'its first 32 columns'}, not {wanted}",
                "leave stats_columns out, or change it: "
                f"ALTER TABLE delta.`{uri}` SET TBLPROPERTIES ('{STATS_COLUMNS_PROPERTY}' = '{wanted}')",
            )
        return {}
    return {STATS_COLUMNS_PROPERTY: wanted}
