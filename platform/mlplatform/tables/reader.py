"""Reading tables without Spark: deltalake (delta-rs) through its own query engine.

Rows come from ``deltalake.QueryBuilder`` (DataFusion inside delta-rs), which honors
deletion vectors, column mapping and partition values from the log. The other
deltalake read paths (``to_pyarrow_table``/``to_pandas``/``to_pyarrow_dataset``) make
the interpreter abort at exit on this stack, and reading ``file_uris()`` with
pyarrow returns wrong rows for those features (docs/architecture.md, "Reading Delta without Spark").

Tables with a reader feature this path has not been verified to honor are refused
with a :class:`TableError` instead of being read wrongly.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Sequence

from mlplatform import storage
from mlplatform.errors import TableError, error_line
from mlplatform.tables.commits import commit_time, pin_version
from mlplatform.tables.handle import open_table
from mlplatform.tables.locate import normalize

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from deltalake import DeltaTable

__all__ = [
    "Column",
    "TableInfo",
    "Filters",
    "SUPPORTED_READER_FEATURES",
    "to_arrow",
    "to_pandas",
    "describe",
    "file_ranges",
    "plain_types",
    "filters_sql",
    "list_tables",
    "quote_ident",
    "sql_literal",
]

log = logging.getLogger(__name__)

# Reader features that deltalake's QueryBuilder reads correctly, each proven by a
# test on a table written by Spark + Delta (tests/tables/test_interop.py).
SUPPORTED_READER_FEATURES = frozenset(
    {"columnMapping", "deletionVectors", "timestampNtz", "v2Checkpoint", "vacuumProtocolCheck", "variantType"}
)
_MAX_READER_VERSION = 3

Filter = tuple[str, str, Any]
Filters = Sequence[Filter] | Sequence[Sequence[Filter]]


@dataclass(frozen=True)
class Column:
    """A column of a table: name, Delta type, nullability and its description."""

    name: str
    type: str
    nullable: bool
    description: str | None = None


@dataclass(frozen=True)
class TableInfo:
    """What the log says about a table at its latest version."""

    path: str
    version: int
    columns: list[Column]
    partition_columns: list[str]
    num_rows: int
    num_rows_source: str  # "log stats" or "scan" (stats missing, or deletion vectors)
    num_files: int
    size_bytes: int
    description: str | None
    properties: dict[str, str]
    min_reader_version: int
    min_writer_version: int
    features: list[str]
    last_commit_at: _dt.datetime | None
    name: str | None = None
    column_descriptions: dict[str, str] = field(default_factory=dict)

    @property
    def schema(self) -> list[Column]:
        """Alias of ``columns``."""
        return self.columns


def _check_readable(dt: "DeltaTable", uri: str, columns: Sequence[str] | None) -> None:
    protocol = dt.protocol()
    features = set(protocol.reader_features or [])
    unknown = sorted(features - SUPPORTED_READER_FEATURES)
    if protocol.min_reader_version > _MAX_READER_VERSION or unknown:
        what = ", ".join(unknown) if unknown else f"reader version {protocol.min_reader_version}"
        raise TableError(
            f"table {uri} uses Delta reader feature(s) {what} that the no-Spark reader (deltalake) cannot honor",
            "read it with Spark: tables.read(spark, table)",
        )
    variants = [
        f.name
        for f in dt.schema().fields
        if _delta_type(f.type) == "variant" and (columns is None or f.name in columns)
    ]
    if variants:
        raise TableError(
            f"table {uri}: column(s) {', '.join(variants)} have type variant, which deltalake returns undecoded",
            "leave them out with columns=[...], or read the table with Spark: tables.read(spark, table)",
        )


Dialect = Literal["datafusion", "spark"]


def quote_ident(name: str, dialect: Dialect = "datafusion") -> str:
    """A column name (or path) quoted as an SQL identifier."""
    if dialect == "spark":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: Any, dialect: Dialect) -> str:
    """A Python value as an SQL literal; TypeError for unsupported types."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, decimal.Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, _dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        if dialect == "spark":
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(type(value).__name__)


_OPS = {
    "=": "=",
    "==": "=",
    "!=": "<>",
    "<>": "<>",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    "in": "IN",
    "not in": "NOT IN",
}


def _predicate(uri: str, names: set[str], item: Any, dialect: Dialect) -> str:
    if not (
        isinstance(item, (tuple, list)) and len(item) == 3 and isinstance(item[0], str) and isinstance(item[1], str)
    ):
        raise TableError(
            f"filter {item!r} on table {uri} is not a (column, op, value) tuple",
            "write filters like [('k', '=', 'A'), ('v', '>', 3)]",
        )
    column, op, value = item[0], item[1].strip().lower(), item[2]
    if column not in names:
        raise TableError(
            f"filter on table {uri} names column {column!r}, which the table does not have",
            f"columns are: {', '.join(sorted(names))}",
        )
    if op not in _OPS:
        raise TableError(
            f"filter {item!r} on table {uri} uses unknown operator {item[1]!r}", f"use one of: {', '.join(_OPS)}"
        )
    ident = quote_ident(column, dialect)
    try:
        if op in ("in", "not in"):
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                raise TableError(
                    f"filter {item!r} on table {uri}: '{op}' needs a list of values",
                    f"write ({column!r}, {op!r}, [v1, v2])",
                )
            values = list(value)
            if not values:
                return "FALSE" if op == "in" else "TRUE"
            return f"{ident} {_OPS[op]} ({', '.join(sql_literal(v, dialect) for v in values)})"
        if value is None:
            if op in ("=", "=="):
                return f"{ident} IS NULL"
            if op in ("!=", "<>"):
                return f"{ident} IS NOT NULL"
            raise TableError(
                f"filter {item!r} on table {uri} compares with None using {op!r}", "use '=' or '!=' with None"
            )
        return f"{ident} {_OPS[op]} {sql_literal(value, dialect)}"
    except TypeError as exc:
        raise TableError(
            f"filter {item!r} on table {uri} has a value of unsupported type {exc}",
            "use str, int, float, bool, Decimal, date, datetime or None",
        ) from exc


def filters_sql(uri: str, names: set[str], filters: Filters | None, dialect: Dialect = "datafusion") -> str:
    """DNF filters (list of tuples = AND; list of lists = OR of ANDs) as a SQL condition.

    ``dialect`` picks identifier quoting and string escapes: DataFusion (deltalake) or Spark SQL.
    """
    if not filters:
        return ""
    groups = [filters] if isinstance(filters[0], tuple) else filters
    ors = []
    for group in groups:
        if not isinstance(group, (list, tuple)) or not group:
            raise TableError(
                f"filters {filters!r} on table {uri} are not in DNF form",
                "pass [('k', '=', 'A')] or [[('k', '=', 'A')], [('k', '=', 'B')]]",
            )
        ands = [_predicate(uri, names, item, dialect) for item in group]
        ors.append("(" + " AND ".join(ands) + ")")
    return " OR ".join(ors)


def _select_sql(
    dt: "DeltaTable",
    uri: str,
    columns: Sequence[str] | None,
    filters: Filters | None,
    limit: int | None,
    where: str | None = None,
    distinct: bool = False,
) -> str:
    names = [f.name for f in dt.schema().fields]
    if columns is not None:
        if isinstance(columns, str):
            raise TableError(
                f"columns for table {uri} must be a list of names, got the string {columns!r}",
                f"write columns=[{columns!r}]",
            )
        missing = [c for c in columns if c not in names]
        if missing:
            raise TableError(
                f"table {uri} has no column(s) {', '.join(map(repr, missing))}", f"columns are: {', '.join(names)}"
            )
    projection = ", ".join(quote_ident(c) for c in (columns if columns is not None else names)) or "*"
    sql = f"SELECT {'DISTINCT ' if distinct else ''}{projection} FROM t"
    conditions = [c for c in (filters_sql(uri, set(names), filters), where) if c]
    if conditions:
        sql += " WHERE " + " AND ".join(f"({c})" for c in conditions)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise TableError(f"limit {limit!r} for table {uri} is not a non-negative integer", "pass e.g. limit=20")
        sql += f" LIMIT {limit}"
    return sql


def plain_types(table: "pa.Table") -> "pa.Table":
    """Cast ``string_view``/``binary_view`` (also inside lists, structs and maps) to plain types."""
    import pyarrow as pa

    def plain(t: pa.DataType) -> pa.DataType:
        if t == pa.string_view():
            return pa.string()
        if t == pa.binary_view():
            return pa.binary()
        if (
            pa.types.is_list(t)
            or pa.types.is_large_list(t)
            or pa.types.is_list_view(t)
            or pa.types.is_large_list_view(t)
        ):
            item = t.value_field.with_type(plain(t.value_type))
            return (
                pa.large_list(item) if pa.types.is_large_list(t) or pa.types.is_large_list_view(t) else pa.list_(item)
            )
        if pa.types.is_fixed_size_list(t):
            return pa.list_(t.value_field.with_type(plain(t.value_type)), t.list_size)
        if pa.types.is_map(t):
            return pa.map_(
                t.key_field.with_type(plain(t.key_type)), t.item_field.with_type(plain(t.item_type)), t.keys_sorted
            )
        if pa.types.is_struct(t):
            return pa.struct([t.field(i).with_type(plain(t.field(i).type)) for i in range(t.num_fields)])
        return t

    target = pa.schema([f.with_type(plain(f.type)) for f in table.schema], metadata=table.schema.metadata)
    return table if target.equals(table.schema) else table.cast(target)


def to_arrow(
    table: str,
    columns: Sequence[str] | None = None,
    filters: Filters | None = None,
    version: int | None = None,
    timestamp: _dt.datetime | str | None = None,
    limit: int | None = None,
    where: str | None = None,
    distinct: bool = False,
) -> "pa.Table":
    """Read a table (or a version of it) into Arrow without Spark or a JVM.

    Args:
        table: table path or URI (``tables.table_uri(settings, ...)``).
        columns: columns to return, in this order (default all).
        filters: DNF tuples like ``[("k", "=", "A"), ("v", ">", 3)]``; a list of such
            lists means OR. ``("k", "=", None)`` matches nulls.
        version: time travel to this version.
        timestamp: time travel to the newest version committed at or before this time.
        limit: at most this many rows.
        where: a SQL condition on the table's columns (DataFusion SQL, ANDed with ``filters``).
        distinct: each distinct row once (``SELECT DISTINCT``).

    Raises:
        TableError: missing table/version/column, a bad filter, or a table feature
            deltalake cannot honor.
    """
    import pyarrow as pa
    from deltalake import QueryBuilder

    dt, uri = open_table(table, pin_version(normalize(table), version, timestamp))
    _check_readable(dt, uri, columns)
    sql = _select_sql(dt, uri, columns, filters, limit, where, distinct)
    log.debug("reading %s at version %s: %s", uri, dt.version(), sql)
    try:
        result = pa.table(QueryBuilder().register("t", dt).execute(sql))
    except Exception as exc:  # noqa: BLE001 - DataFusion/delta-rs errors
        raise TableError(
            f"table {uri} (version {dt.version()}) could not be read: {error_line(exc, limit=500)}",
            "check the filters' value types against the column types, and the SQL of where=",
        ) from exc
    return plain_types(result)


def to_pandas(
    table: str,
    columns: Sequence[str] | None = None,
    filters: Filters | None = None,
    version: int | None = None,
    timestamp: _dt.datetime | str | None = None,
    limit: int | None = None,
) -> "pd.DataFrame":
    """:func:`to_arrow`, as a pandas DataFrame (timestamps tz-aware UTC)."""
    return to_arrow(
        table, columns=columns, filters=filters, version=version, timestamp=timestamp, limit=limit
    ).to_pandas()


def _delta_type(t: Any) -> str:
    """A Delta schema type (deltalake object or its JSON form) as ``array<struct<a: int>>`` text."""
    if hasattr(t, "to_json"):
        t = json.loads(t.to_json())
    elif not isinstance(t, (str, dict)):
        t = str(getattr(t, "type", t))
    if isinstance(t, str):
        return t
    kind = t.get("type")
    if kind == "array":
        return f"array<{_delta_type(t['elementType'])}>"
    if kind == "map":
        return f"map<{_delta_type(t['keyType'])}, {_delta_type(t['valueType'])}>"
    if kind == "struct":
        return "struct<" + ", ".join(f"{f['name']}: {_delta_type(f['type'])}" for f in t["fields"]) + ">"
    return str(kind)


def _row_count(dt: "DeltaTable", uri: str, actions: "pa.Table") -> tuple[int, str]:
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import QueryBuilder

    features = set(dt.protocol().reader_features or [])
    counts = actions.column("num_records") if "num_records" in actions.column_names else None
    if "deletionVectors" not in features and counts is not None and counts.null_count == 0:
        return int(pc.sum(counts).as_py() or 0), "log stats"
    _check_readable(dt, uri, [])
    result = pa.table(QueryBuilder().register("t", dt).execute("SELECT count(*) AS n FROM t"))
    return int(result.column("n")[0].as_py()), "scan"


def file_ranges(table: str, columns: Sequence[str], version: int | None = None) -> list[dict[str, Any]]:
    """Per data file of ``table`` (at ``version``): its row count and the min/max of ``columns`` from the log.

    Each entry is ``{"rows": n, "min": {col: value}, "max": {col: value}}``; a column without
    statistics in a file has ``None`` there. Nothing but the Delta log is read.
    """
    import pyarrow as pa

    dt, _ = open_table(table, version)
    actions = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    return [
        {
            "rows": a.get("num_records"),
            "min": {c: a.get(f"min.{c}") for c in columns},
            "max": {c: a.get(f"max.{c}") for c in columns},
        }
        for a in actions
    ]


def describe(table: str) -> TableInfo:
    """Schema, partitioning, size, row count and descriptions of ``table``, from its log."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dt, uri = open_table(table)
    meta = dt.metadata()
    schema = json.loads(dt.schema().to_json())
    columns = [
        Column(
            f["name"], _delta_type(f["type"]), bool(f.get("nullable", True)), (f.get("metadata") or {}).get("comment")
        )
        for f in schema["fields"]
    ]
    actions = pa.table(dt.get_add_actions(flatten=True))
    num_rows, source = _row_count(dt, uri, actions)
    protocol = dt.protocol()
    last = dt.history(1)
    return TableInfo(
        path=uri,
        name=meta.name,
        version=int(dt.version()),
        columns=columns,
        partition_columns=list(meta.partition_columns),
        num_rows=num_rows,
        num_rows_source=source,
        num_files=actions.num_rows,
        size_bytes=int(pc.sum(actions.column("size_bytes")).as_py() or 0) if actions.num_rows else 0,
        description=meta.description or None,
        properties=dict(meta.configuration),
        min_reader_version=protocol.min_reader_version,
        min_writer_version=protocol.min_writer_version,
        features=sorted(set(protocol.reader_features or []) | set(protocol.writer_features or [])),
        last_commit_at=commit_time(last[0]) if last else None,
        column_descriptions={c.name: c.description for c in columns if c.description},
    )


def list_tables(root: str, max_depth: int = 4) -> list[str]:
    """Locations of the Delta tables under a folder (local, or ``hdfs://`` through WebHDFS).

    Does not descend into tables, nor into hidden folders, nor deeper than ``max_depth``.
    """
    if "://" not in root:
        return _list_local(root, max_depth)

    found: list[str] = []

    def walk(folder: str, depth: int) -> None:
        try:
            names = storage.listdir(folder)
        except storage.StorageError:  # a file, not a folder
            return
        if "_delta_log" in names:
            found.append(folder)
            return
        if depth < max_depth:
            for name in names:
                if not name.startswith((".", "_delta_log")) and not name.endswith((".parquet", ".json", ".crc")):
                    walk(storage.join(folder, name), depth + 1)

    walk(root.rstrip("/"), 0)
    return sorted(found)


def _list_local(root: str, max_depth: int) -> list[str]:
    found: list[str] = []
    if not os.path.isdir(root):
        return found
    base = root.rstrip("/").count("/")
    for current, dirs, _files in os.walk(root):
        if "_delta_log" in dirs:
            found.append(current.rstrip("/"))
            dirs[:] = []
            continue
        depth = current.rstrip("/").count("/") - base
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if depth < max_depth else []
    return sorted(found)
