"""Reading and writing tables in Spark: delta-spark (``format("delta")``).

Writes carry platform metadata in the commit, are applied once when tagged with a
:class:`~mlplatform.tables.commits.Txn`, and turn Delta's concurrency exceptions into
a :class:`TableError` that names the table and the other writer's version. A write
whose commit failed left nothing in the table (Delta commits are all-or-nothing),
so an append or a merge is re-run against the new snapshot when it is safe: when
the DataFrame does not itself read the table it is writing to.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from mlplatform.errors import TableError, error_line
from mlplatform.tables.access import denied_error, share_new_table
from mlplatform.tables.checks import check_write_args, stats_properties, write_mode
from mlplatform.tables.commits import (
    Commit,
    Txn,
    committed_version,
    full_metadata,
    history,
    metadata_json,
    pin_version,
    txn_applied,
)
from mlplatform.tables.file_scan import plain_files, read_files
from mlplatform.tables.handle import current_version, exists, open_table
from mlplatform.tables.locate import normalize, spark_location
from mlplatform.tables.locking import commit_lock
from mlplatform.tables.reader import quote_ident, sql_literal

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["read", "write", "merge", "vacuum_spark", "optimize_spark", "MAX_ATTEMPTS"]

log = logging.getLogger(__name__)

# Attempts of an append or merge that lost a race against a concurrent commit.
MAX_ATTEMPTS = 3

_USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
_TXN_APP_CONF = "spark.databricks.delta.write.txnAppId"
_TXN_VERSION_CONF = "spark.databricks.delta.write.txnVersion"
_RETENTION_CHECK_CONF = "spark.databricks.delta.retentionDurationCheck.enabled"
_LISTING_PARALLELISM_CONF = "spark.sql.sources.parallelPartitionDiscovery.parallelism"


def _sql_path(uri: str) -> str:
    return "delta." + quote_ident(spark_location(uri), "spark")


def read(
    spark: "SparkSession",
    table: str,
    version: int | None = None,
    timestamp: datetime | str | None = None,
    columns: Sequence[str] | None = None,
) -> "DataFrame":
    """Read a table (or one version of it) as a Spark DataFrame.

    Args:
        spark: the session (``mlplatform.launch.session.session()``).
        table: table path or URI.
        version: time travel to this version.
        timestamp: the newest version committed at or before this time (naive = UTC);
            resolved from the log exactly as :func:`to_pandas` resolves it.
        columns: columns to select (default all).
    """
    uri = normalize(table)
    version = pin_version(uri, version, timestamp)
    dt, _ = open_table(uri, version)  # names a missing table or version before Spark does
    files = plain_files(spark, dt, uri)
    if files is not None:
        frame = read_files(spark, dt, uri, files)
    else:
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        frame = reader.load(spark_location(uri))
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if isinstance(columns, str) or missing:
            raise TableError(
                f"table {uri} has no column(s) {missing or columns!r}", f"columns are: {', '.join(frame.columns)}"
            )
        frame = frame.select(*[frame[c] for c in columns])
    return frame


def _reads_table(frame: "DataFrame", uri: str) -> bool:
    """Whether computing ``frame`` reads files of the table at ``uri``."""
    prefixes = (uri.rstrip("/") + "/", "file:" + uri.rstrip("/") + "/", "file://" + uri.rstrip("/") + "/")
    try:
        return any(f.startswith(prefixes) for f in frame.inputFiles())
    except Exception:  # noqa: BLE001 - cannot tell: assume it does, which forbids a retry
        return True


def _other_commit(uri: str, exc: BaseException) -> str:
    """The concurrent commit Delta names in ``exc``: its version, operation and writer."""
    match = re.search(r"committed at version (\d+)", str(exc))
    if not match:
        return "a concurrent commit"
    other = int(match.group(1))
    try:
        found: list[Commit] = [
            c for c in history(uri, limit=max(1, open_table(uri)[0].version() - other + 1)) if c.version == other
        ]
    except TableError:
        found = []
    if not found:
        return f"version {other}"
    commit = found[0]
    who = ", ".join(f"{k} {commit.metadata[k]}" for k in ("job", "run_id", "user") if k in commit.metadata)
    return f"version {other} ({commit.operation}{' by ' + who if who else ''})"


def _conflict_error(uri: str, action: str, exc: BaseException, attempts: int) -> TableError:
    cause = error_line(exc)
    after = f" after {attempts} attempts" if attempts > 1 else ""
    return TableError(
        f"table {uri}: {action} conflicts with {_other_commit(uri, exc)}, committed concurrently{after}; "
        f"nothing of this write was committed [{cause}]",
        "re-run the job: it will see the other writer's data (Delta refuses writes that would silently overwrite it)",
    )


def _translate(uri: str, action: str, exc: BaseException) -> TableError | None:
    """A clear TableError for Delta errors users cause; None for anything else."""
    denied = denied_error(uri, action, exc)
    if denied is not None:
        return denied
    text = str(exc)
    first = error_line(exc)
    if "DELTA_FAILED_TO_MERGE_FIELDS" in text or "DELTA_METADATA_MISMATCH" in text or "schema mismatch" in text.lower():
        return TableError(
            f"table {uri}: the DataFrame's schema does not match the table's ({action}): {first}",
            "new columns: pass merge_schema=True; a changed column type: cast the column to the table's type",
        )
    if "DELTA_REPLACE_WHERE_MISMATCH" in text or "DELTA_REPLACE_WHERE" in text:
        return TableError(
            f"table {uri}: rows of the DataFrame do not match replace_where: {first}",
            "write only rows that satisfy replace_where",
        )
    if "DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE" in text:
        return TableError(
            f"table {uri}: several rows of the merge source have the same keys",
            "deduplicate the DataFrame on the merge keys",
        )
    if "DELTA_UNSUPPORTED_FEATURES" in text or "DELTA_INVALID_PROTOCOL" in text:
        return TableError(
            f"table {uri} uses Delta features this delta-spark cannot write: {first}",
            "upgrade delta-spark or write with the engine that created the table",
        )
    return None


def _conflict_types() -> tuple[type[BaseException], ...]:
    """Delta's commit-conflict exceptions. In delta-spark's Python package they do not
    derive from ``DeltaConcurrentModificationException`` as documented, so list them all."""
    from delta import exceptions

    names = (
        "DeltaConcurrentModificationException",
        "ConcurrentWriteException",
        "MetadataChangedException",
        "ProtocolChangedException",
        "ConcurrentAppendException",
        "ConcurrentDeleteReadException",
        "ConcurrentDeleteDeleteException",
        "ConcurrentTransactionException",
    )
    return tuple(getattr(exceptions, name) for name in names)


def _run_commit(
    uri: str,
    action: str,
    attempt: Callable[[], None],
    retry_safe: Callable[[], bool],
    txn: Txn | None,
) -> None:
    """Run ``attempt`` (one Delta commit) under the table lock, re-running it on a lost race when safe."""
    conflicts = _conflict_types()  # importing them also makes PySpark raise them instead of Py4JJavaError
    with commit_lock(uri, "spark"):
        for number in range(1, MAX_ATTEMPTS + 1):
            try:
                attempt()
                return
            except conflicts as exc:
                if txn_applied(uri, txn):
                    return
                if number == MAX_ATTEMPTS or not retry_safe():
                    raise _conflict_error(uri, action, exc, number) from exc
                log.warning(
                    "table %s: %s lost a race against %s; retrying (%d/%d)",
                    uri,
                    action,
                    _other_commit(uri, exc),
                    number + 1,
                    MAX_ATTEMPTS,
                )
            except Exception as exc:  # noqa: BLE001 - Spark/Py4J raise many kinds
                translated = _translate(uri, action, exc)
                if translated is None:
                    raise
                raise translated from exc


def write(
    df: "DataFrame",
    table: str,
    mode: str = "append",
    partition_by: Sequence[str] | None = None,
    replace_where: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    txn: Txn | None = None,
    merge_schema: bool = False,
    description: str | None = None,
    stats_columns: Sequence[str] | None = None,
) -> int:
    """Write a Spark DataFrame to a Delta table in one commit; return the version it committed.

    Args:
        df: the rows to write.
        table: table path or URI; created when missing.
        mode: ``"append"`` or ``"overwrite"`` (the whole table, or with ``replace_where``
            only the matching rows).
        partition_by: partition columns when creating the table (must match when it exists).
        replace_where: SQL predicate, e.g. ``"run_date = '2024-06-01'"``: atomically
            replace exactly those rows (implies ``mode="overwrite"``). Every written row
            must satisfy it.
        metadata: extra commit metadata on top of :func:`commit_metadata`'s.
        txn: idempotency key; when the table already recorded it, nothing is written and
            the latest version is returned.
        merge_schema: add the DataFrame's new columns to the table.
        description: table description to keep in the Delta metadata.
        stats_columns: when creating the table, the only columns whose min/max/null
            counts Delta records per file (``delta.dataSkippingStatsColumns``; default:
            the first 32 columns). Statistics drive data skipping on filters but cost
            write time: name the columns readers filter on (keys, dates).

    Raises:
        TableError: bad arguments, schema mismatch, or a conflicting concurrent commit
            (naming its version) that could not safely be retried.
    """
    uri = normalize(table)
    check_write_args(uri, mode, partition_by)
    mode = write_mode(uri, mode, replace_where)
    properties = stats_properties(uri, df.columns, stats_columns)
    if txn_applied(uri, txn):
        return current_version(uri)
    meta = full_metadata(metadata)
    before = current_version(uri)

    def attempt() -> None:
        writer = df.write.format("delta").mode(mode).option("userMetadata", metadata_json(meta)).options(**properties)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        if replace_where is not None:
            writer = writer.option("replaceWhere", replace_where)
        if merge_schema:
            writer = writer.option("mergeSchema", "true")
        if txn is not None:
            writer = writer.option("txnAppId", txn.app_id).option("txnVersion", str(txn.version))
        writer.save(spark_location(uri))

    action = f"{'replace where ' + replace_where if replace_where else mode} write"
    # An overwrite decided what to delete from a snapshot that is now stale: never retried.
    _run_commit(uri, action, attempt, lambda: mode == "append" and not _reads_table(df, uri), txn)
    committed = committed_version(uri, meta, before)
    if before < 0:
        share_new_table(uri, committed)
    if description is not None:
        committed = _set_description(df.sparkSession, uri, description, meta) or committed
    return committed


def _set_description(spark: "SparkSession", uri: str, description: str, meta: Mapping[str, Any]) -> int | None:
    """Store the table description (one metadata commit, only when it changes)."""
    if (open_table(uri)[0].metadata().description or "") == description:
        return None
    session = spark.newSession()
    described = {**meta, "write_id": f"{meta['write_id']}-description"}
    session.conf.set(_USER_METADATA_CONF, metadata_json(described))
    before = current_version(uri)
    with commit_lock(uri, "spark"):
        session.sql(f"ALTER TABLE {_sql_path(uri)} SET TBLPROPERTIES ('comment' = {sql_literal(description, 'spark')})")
    return committed_version(uri, described, before)


def merge(
    df: "DataFrame",
    table: str,
    keys: Sequence[str],
    metadata: Mapping[str, Any] | None = None,
    txn: Txn | None = None,
) -> int:
    """Upsert ``df`` into ``table`` on ``keys`` (null-safe equality); create the table when missing.

    Rows whose keys exist are updated with all of ``df``'s columns, the others are
    inserted. A merge that lost a race against a concurrent commit is re-run on
    the new snapshot (the upsert is recomputed), unless ``df`` reads the table itself.

    Returns:
        The version the merge committed.
    """
    uri = normalize(table)
    if isinstance(keys, str) or not keys or not all(isinstance(k, str) for k in keys):
        raise TableError(
            f"merge keys for table {uri} must be a non-empty list of column names, got {keys!r}",
            "e.g. keys=['customer_id']",
        )
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise TableError(
            f"merge into table {uri}: the DataFrame has no key column(s) {missing}",
            f"its columns are: {', '.join(df.columns)}",
        )
    if txn_applied(uri, txn):
        return current_version(uri)
    _check_unique_keys(df, uri, keys)
    if not exists(uri):
        created = _create_with(df, uri, metadata, txn)
        if created is not None:
            return created
    table_columns = [f.name for f in open_table(uri)[0].schema().fields]
    absent = [k for k in keys if k not in table_columns]
    if absent:
        raise TableError(
            f"table {uri} has no key column(s) {absent} to merge on", f"its columns are: {', '.join(table_columns)}"
        )

    from delta.tables import DeltaTable

    meta = full_metadata(metadata)
    before = current_version(uri)
    condition = " AND ".join(f"t.{quote_ident(k, 'spark')} <=> s.{quote_ident(k, 'spark')}" for k in keys)

    def attempt() -> None:
        # Commit metadata and txn are session settings for DML: use a private session
        # so concurrent writers in other threads do not see them.
        session = df.sparkSession.newSession()
        session.conf.set(_USER_METADATA_CONF, metadata_json(meta))
        if txn is not None:
            session.conf.set(_TXN_APP_CONF, txn.app_id)
            session.conf.set(_TXN_VERSION_CONF, str(txn.version))
        target = DeltaTable.forPath(session, spark_location(uri)).alias("t")
        target.merge(df.alias("s"), condition).whenMatchedUpdateAll().whenNotMatchedInsertAll().execute()

    _run_commit(uri, f"merge on {list(keys)}", attempt, lambda: not _reads_table(df, uri), txn)
    return committed_version(uri, meta, before)


def _check_unique_keys(df: "DataFrame", uri: str, keys: Sequence[str]) -> None:
    from pyspark.sql import functions as F

    dup = (
        df.groupBy(*[F.col(quote_ident(k, "spark")) for k in keys]).count().where(F.col("count") > 1).limit(1).collect()
    )
    if dup:
        example = {k: dup[0][k] for k in keys}
        raise TableError(
            f"merge into table {uri}: the DataFrame has {dup[0]['count']} rows with keys {example}",
            "deduplicate the DataFrame on the merge keys (an upsert takes one row per key)",
        )


def _create_with(df: "DataFrame", uri: str, metadata: Mapping[str, Any] | None, txn: Txn | None) -> int | None:
    """Create the table from ``df`` (the merge of rows into nothing); None if someone else created it first."""
    meta = full_metadata(metadata)
    writer = df.write.format("delta").mode("errorifexists").option("userMetadata", metadata_json(meta))
    if txn is not None:
        writer = writer.option("txnAppId", txn.app_id).option("txnVersion", str(txn.version))
    try:
        with commit_lock(uri, "spark"):
            writer.save(spark_location(uri))
    except Exception as exc:  # noqa: BLE001
        if exists(uri) and "already exists" in str(exc).lower():
            log.info("table %s was created concurrently; merging into it", uri)
            return None
        translated = _translate(uri, "merge (create)", exc)
        if translated is None:
            raise
        raise translated from exc
    created = committed_version(uri, meta, -1)
    share_new_table(uri, created)
    return created


def vacuum_spark(
    spark: "SparkSession", uri: str, retention_hours: float, dry_run: bool, enforce_retention: bool
) -> list[str]:
    """VACUUM with delta-spark; returns the files it deletes (or would delete)."""
    session = spark.newSession()
    # VACUUM lists files with this many tasks (default 10000: minutes of overhead on a small table)
    session.conf.set(_LISTING_PARALLELISM_CONF, str(spark.sparkContext.defaultParallelism))
    if not enforce_retention:
        session.conf.set(_RETENTION_CHECK_CONF, "false")
    statement = f"VACUUM {_sql_path(uri)} RETAIN {float(retention_hours)} HOURS"
    try:
        listed = [str(r[0]) for r in session.sql(statement + " DRY RUN").collect()]
        if not dry_run and listed:
            with commit_lock(uri, "spark"):
                session.sql(statement).collect()
    except Exception as exc:  # noqa: BLE001
        raise TableError(
            f"table {uri}: vacuum refused: {error_line(exc)}",
            "keep retention_hours >= 168, or pass enforce_retention=False when no reader needs older versions",
        ) from exc
    return listed


def optimize_spark(
    spark: "SparkSession", uri: str, where: str | None, z_order_by: Sequence[str] | None, meta: Mapping[str, Any]
) -> None:
    """OPTIMIZE (compaction or Z-order) with delta-spark, committing ``meta``."""
    from delta.tables import DeltaTable

    session = spark.newSession()
    session.conf.set(_USER_METADATA_CONF, metadata_json(meta))
    builder = DeltaTable.forPath(session, spark_location(uri)).optimize()
    if where:
        builder = builder.where(where)
    with commit_lock(uri, "spark"):
        if z_order_by:
            builder.executeZOrderBy(*z_order_by)
        else:
            builder.executeCompaction()
