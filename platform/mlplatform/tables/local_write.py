"""Writing small tables from the driver with deltalake (no Spark, no JVM).

For registries, lineage, audit rows and benchmark results: a pandas DataFrame
becomes one Delta commit carrying the same platform metadata a Spark write carries.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from mlplatform.errors import TableError, error_line
from mlplatform.tables.access import denied_error, share_new_table
from mlplatform.tables.checks import check_write_args, stats_properties, write_mode
from mlplatform.tables.commits import (
    Txn,
    committed_version,
    full_metadata,
    metadata_json,
    txn_applied,
)
from mlplatform.tables.handle import current_version, exists, open_table
from mlplatform.tables.locate import normalize
from mlplatform.tables.locking import commit_lock

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["write_pandas", "set_descriptions", "vacuum_local", "optimize_local"]

log = logging.getLogger(__name__)


def _commit_properties(meta: Mapping[str, Any], txn: Txn | None = None) -> Any:
    from deltalake import CommitProperties, Transaction

    apps = [Transaction(txn.app_id, txn.version)] if txn is not None else None
    return CommitProperties(custom_metadata={"userMetadata": metadata_json(meta)}, app_transactions=apps)


def _arrow(pdf: "pd.DataFrame", uri: str) -> "pa.Table":
    """The frame as Arrow, cast to the table's column types when the table exists."""
    import pyarrow as pa

    try:
        data = pa.Table.from_pandas(pdf, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise TableError(
            f"rows for table {uri} cannot be converted to Arrow: {exc}", "give each column one type (pdf.astype(...))"
        ) from exc
    data = data.replace_schema_metadata(None)
    if exists(uri):
        # int32 -> long, naive -> tz timestamps...: cast what converts safely to the table's
        # types; deltalake judges the rest (and names the mismatch)
        target = {f.name: f.type for f in pa.schema(open_table(uri)[0].schema())}
        for i, field in enumerate(data.schema):
            wanted = target.get(field.name)
            if wanted is None or wanted == field.type:
                continue
            try:
                data = data.set_column(i, field.with_type(wanted), data.column(i).cast(wanted))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                log.debug("column %s of rows for %s stays %s (table has %s)", field.name, uri, field.type, wanted)
    untyped = [f.name for f in data.schema if pa.types.is_null(f.type)]
    if untyped:
        raise TableError(
            f"column(s) {', '.join(untyped)} for new table {uri} have no type (no values to infer one from)",
            "give them a dtype, e.g. pdf['c'] = pdf['c'].astype('string')",
        )
    return data


def write_pandas(
    pdf: "pd.DataFrame",
    table: str,
    mode: str = "append",
    partition_by: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    description: str | None = None,
    txn: Txn | None = None,
    merge_schema: bool = False,
    replace_where: str | None = None,
    stats_columns: Sequence[str] | None = None,
) -> int:
    """Write a pandas DataFrame in one commit with deltalake; return the committed version.

    Args:
        pdf: the rows (its index is dropped).
        table: table path or URI; created when missing.
        mode: ``"append"`` or ``"overwrite"`` (the whole table, or with ``replace_where``
            only the matching rows).
        partition_by: partition columns when creating the table.
        metadata: extra commit metadata on top of :func:`commit_metadata`'s.
        description: table description (set when the table is created).
        txn: idempotency key; when already recorded, nothing is written.
        merge_schema: add new columns to the table.
        replace_where: SQL predicate, e.g. ``"run_date = '2024-06-01'"``: atomically replace
            exactly those rows (implies ``mode="overwrite"``; on a new table, just written).
            Every written row must satisfy it.
        stats_columns: when creating the table, the only columns whose min/max/null counts
            Delta records per file (``delta.dataSkippingStatsColumns``), as :func:`write`.
    """
    from deltalake import write_deltalake
    from deltalake.exceptions import (
        CommitFailedError,
        DeltaError,
        DeltaProtocolError,
        SchemaMismatchError,
    )

    uri = normalize(table)
    check_write_args(uri, mode, partition_by)
    mode = write_mode(uri, mode, replace_where)
    if txn_applied(uri, txn):
        return current_version(uri)
    data = _arrow(pdf, uri)
    properties = stats_properties(uri, list(data.schema.names), stats_columns)
    meta = full_metadata(metadata)
    before = current_version(uri)
    with commit_lock(uri, "deltalake"):
        # decided under the lock: a table created meanwhile must not be overwritten whole
        predicate = replace_where if replace_where is not None and exists(uri) else None
        try:
            write_deltalake(
                uri,
                data,
                mode=mode,
                partition_by=list(partition_by) if partition_by else None,
                description=description,
                schema_mode="merge" if merge_schema else None,
                predicate=predicate,
                configuration=properties or None,
                commit_properties=_commit_properties(meta, txn),
            )
        except SchemaMismatchError as exc:
            raise TableError(
                f"rows for table {uri} do not match its schema: {error_line(exc)}",
                "new columns: pass merge_schema=True; otherwise convert the columns to the table's types",
            ) from exc
        except (CommitFailedError, DeltaProtocolError, DeltaError) as exc:
            if predicate is not None and "failed validation check" in str(exc):
                raise TableError(
                    f"table {uri}: rows of the DataFrame do not match replace_where {predicate!r}: {error_line(exc)}",
                    "write only rows that satisfy replace_where",
                ) from exc
            raise _write_error(uri, exc, f"{mode} write") from exc
    version = committed_version(uri, meta, before)
    if before < 0:
        share_new_table(uri, version)
    if description is not None and before >= 0:
        version = set_descriptions(uri, description=description, metadata=metadata) or version
    return version


def _write_error(uri: str, exc: BaseException, action: str = "write") -> TableError:
    denied = denied_error(uri, action, exc)
    if denied is not None:
        return denied
    text = error_line(exc)
    if "Unsupported table features" in text or "unsupported" in text.lower():
        return TableError(
            f"table {uri} uses Delta features deltalake cannot write: {text}",
            "write it with Spark: tables.write(df, table)",
        )
    return TableError(f"write to table {uri} failed: {text}", "nothing was committed; fix the cause and re-run")


def set_descriptions(
    table: str,
    description: str | None = None,
    columns: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> int | None:
    """Keep a table description and column descriptions in the Delta metadata (deltalake).

    Column descriptions are stored as the field metadata ``comment``, which Spark
    shows in ``DESCRIBE TABLE``. Returns the new version, or None when nothing changed.
    """
    dt, uri = open_table(table)
    names = {f.name: f for f in dt.schema().fields}
    unknown = [c for c in (columns or {}) if c not in names]
    if unknown:
        raise TableError(f"table {uri} has no column(s) {unknown} to describe", f"columns are: {', '.join(names)}")
    changes = []
    if description is not None and (dt.metadata().description or "") != description:
        changes.append(("table", description))
    for column, text in (columns or {}).items():
        if (names[column].metadata or {}).get("comment") != text:
            changes.append((column, text))
    if not changes:
        return None
    with commit_lock(uri, "deltalake"):
        try:
            for target, text in changes:
                props = _commit_properties(full_metadata(metadata))
                if target == "table":
                    dt.alter.set_table_description(text, commit_properties=props)
                else:
                    kept = {k: v for k, v in (names[target].metadata or {}).items() if isinstance(v, str)}
                    dt.alter.set_column_metadata(target, {**kept, "comment": text}, commit_properties=props)
        except Exception as exc:  # noqa: BLE001 - delta-rs errors
            raise _write_error(uri, exc) from exc
    return open_table(uri)[0].version()


def _refuse_deletion_vectors(dt: Any, uri: str, action: str) -> None:
    if "deletionVectors" in set(dt.protocol().reader_features or []):
        raise TableError(
            f"table {uri} has deletion vectors; {action} it with Spark", f"pass spark=... to tables.{action}"
        )


def vacuum_local(uri: str, retention_hours: float, dry_run: bool, enforce_retention: bool) -> list[str]:
    """VACUUM with deltalake; returns the files it deletes (or would delete)."""
    dt, uri = open_table(uri)
    _refuse_deletion_vectors(dt, uri, "vacuum")
    try:
        with commit_lock(uri, "deltalake"):
            # full: list the folder like Spark's VACUUM, so files of killed jobs (never in the log) go too
            return list(
                dt.vacuum(
                    retention_hours=int(retention_hours),
                    dry_run=dry_run,
                    enforce_retention_duration=enforce_retention,
                    full=True,
                )
            )
    except Exception as exc:  # noqa: BLE001
        raise TableError(
            f"table {uri}: vacuum refused: {error_line(exc)}",
            "keep retention_hours >= 168, or pass enforce_retention=False when no reader needs older versions",
        ) from exc


def optimize_local(uri: str, filters: Any, z_order_by: Sequence[str] | None, meta: Mapping[str, Any]) -> None:
    """OPTIMIZE (compaction or Z-order) with deltalake, committing ``meta``."""
    dt, uri = open_table(uri)
    _refuse_deletion_vectors(dt, uri, "optimize")
    props = _commit_properties(meta)
    with commit_lock(uri, "deltalake"):
        try:
            if z_order_by:
                dt.optimize.z_order(list(z_order_by), partition_filters=filters, commit_properties=props)
            else:
                dt.optimize.compact(partition_filters=filters, commit_properties=props)
        except Exception as exc:  # noqa: BLE001
            raise _write_error(uri, exc) from exc
