"""Ingestion: materialize a registered feature set into ``<warehouse>/features/<name>``.

The source rows (a table, or tables through a transform) are checked against the
definition before anything is written: every declared column present with a
compatible type (then cast to the declared type), no null keys or times, no
duplicate (keys, event time) rows. Then one commit: ``merge`` upserts on
(keys, event time) — re-running is safe and late rows land — ``append`` adds rows
and refuses ones already there, ``overwrite`` replaces the table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from mlplatform import tables
from mlplatform.config import Settings, load_settings
from mlplatform.errors import FeatureError, PlatformError
from mlplatform.features import registry
from mlplatform.features.definitions import (
    FEATURE_TYPES,
    FeatureSetDef,
    resolve_function,
)
from mlplatform.launch.jobrun import JobResult
from mlplatform.launch.session import session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["IngestResult", "feature_table", "source_frame", "validate_frame", "ingest", "ingest_job"]

log = logging.getLogger(__name__)

# Spark type families a declared type accepts before the cast to it.
_ACCEPTS = {
    "int32": ("integral",),
    "int64": ("integral",),
    "float32": ("integral", "fractional"),
    "float64": ("integral", "fractional"),
    "bool": ("boolean",),
    "string": ("string",),
    "date": ("date",),
    "timestamp": ("timestamp", "date"),
}


@dataclass(frozen=True)
class IngestResult:
    """One ingestion: the feature set, the table version written and what went in."""

    name: str
    version: int
    rows: int
    mode: str
    table: str

    @property
    def id(self) -> str:
        return f"fs:{self.name}@v{self.version}"


def feature_table(settings: Settings, name: str) -> str:
    """Location of a feature set's table."""
    return tables.table_uri(settings, "features", name)


def _family(dtype) -> str:  # type: ignore[no-untyped-def]
    from pyspark.sql import types as T

    for cls, family in (
        (T.IntegralType, "integral"),
        (T.FractionalType, "fractional"),
        (T.BooleanType, "boolean"),
        (T.StringType, "string"),
        (T.DateType, "date"),
        (T.TimestampType, "timestamp"),
        (T.TimestampNTZType, "timestamp"),
    ):
        if isinstance(dtype, cls):
            return family
    return dtype.simpleString()


def source_frame(
    spark: "SparkSession", settings: Settings, definition: FeatureSetDef
) -> tuple["DataFrame", dict[str, int]]:
    """The source rows of a feature set (after its transform) and the versions of the tables read."""
    frames, versions = {}, {}
    for arg, location in definition.source.inputs().items():
        uri = tables.resolve_name(settings, location)
        if not tables.exists(uri):
            raise FeatureError(
                f"feature set '{definition.name}': source table '{location}' does not exist ({uri})",
                "create it first (for the demo data: `mlp features generate`)",
            )
        versions[location] = tables.version(uri)
        frames[arg] = tables.read(spark, uri, version=versions[location])
    if not definition.source.transform:
        return frames["source"], versions
    fn = resolve_function(definition.source.transform, f"feature set '{definition.name}'")
    try:
        frame = fn(**frames)
    except PlatformError:
        raise
    except Exception as exc:  # noqa: BLE001 - user code: name the set and the function
        raise FeatureError(
            f"feature set '{definition.name}': transform {definition.source.transform} failed: {exc}",
            "fix the transform (run it on the source tables in a notebook)",
        ) from exc
    return frame, versions


def conform(frame: "DataFrame", definition: FeatureSetDef, what: str) -> "DataFrame":
    """The declared columns, in order, cast to their declared types; FeatureError naming set and column."""
    from pyspark.sql import functions as F

    columns = definition.column_types()
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise FeatureError(
            f"feature set '{definition.name}': {what} lacks declared column(s) {', '.join(repr(c) for c in missing)}",
            f"it has: {', '.join(frame.columns)}; fix the definition or the source",
        )
    selected = []
    for name, declared in columns.items():
        family = _family(frame.schema[name].dataType)
        if family not in _ACCEPTS[declared]:
            raise FeatureError(
                f"feature set '{definition.name}': column '{name}' is {frame.schema[name].dataType.simpleString()} "
                f"in {what} but declared {declared}",
                f"declare the type that matches, or cast '{name}' in the source/transform",
            )
        selected.append(F.col(name).cast(FEATURE_TYPES[declared][1]).alias(name))
    return frame.select(*selected)


def validate_frame(frame: "DataFrame", definition: FeatureSetDef) -> int:
    """Row count; FeatureError when keys or times are null or (keys, event time) repeats."""
    from pyspark.sql import functions as F

    must = definition.keys + [definition.event_timestamp]
    must += [definition.created_timestamp] if definition.created_timestamp else []
    stats = frame.select(
        F.count(F.lit(1)).alias("__rows"), *[F.sum(F.col(c).isNull().cast("long")).alias(c) for c in must]
    ).first()
    for column in must:
        if stats[column]:
            raise FeatureError(
                f"feature set '{definition.name}': {stats[column]} row(s) with null '{column}'",
                "drop or fill them in the source; keys and times must be set",
            )
    grain = definition.keys + [definition.event_timestamp]
    dupes = frame.groupBy(*grain).count().where(F.col("count") > 1)
    example = dupes.limit(1).collect()
    if example:
        row = example[0]
        shown = ", ".join(f"{c}={row[c]!r}" for c in grain)
        raise FeatureError(
            f"feature set '{definition.name}': duplicate ({', '.join(grain)}) rows, "
            f"e.g. {shown} appears {row['count']} times",
            "keep one row per key and event time in the source (aggregate or deduplicate it)",
        )
    return int(stats["__rows"])


def ingest(spark: "SparkSession", settings: Settings, name: str, mode: str | None = None) -> IngestResult:
    """Materialize the registered feature set ``name``; nothing is committed when a check fails.

    Args:
        spark: the session (``mlplatform.launch.session.session()``).
        settings: platform settings.
        name: a feature set registered with ``mlp features apply``.
        mode: ``merge``, ``append`` or ``overwrite`` (default: the definition's ``mode``).
    """
    reg = registry.get(settings, name)
    definition = reg.definition
    mode = mode or definition.mode
    if mode not in ("merge", "append", "overwrite"):
        raise FeatureError(f"feature set '{name}': unknown ingestion mode '{mode}'", "use merge, append or overwrite")
    source, versions = source_frame(spark, settings, definition)
    frame = conform(source, definition, "the source").persist()
    try:
        rows = validate_frame(frame, definition)
        uri = feature_table(settings, name)
        exists = tables.exists(uri)
        if exists and mode != "overwrite":
            _same_columns(spark, uri, frame, definition)
        grain = definition.keys + [definition.event_timestamp]
        if exists and mode == "append":
            clash = frame.join(tables.read(spark, uri, columns=grain), on=grain, how="left_semi").limit(1).collect()
            if clash:
                raise FeatureError(
                    f"feature set '{name}': append would repeat rows already in the table, e.g. "
                    + ", ".join(f"{c}={clash[0][c]!r}" for c in grain),
                    "ingest with --mode merge to update existing rows",
                )
        metadata = tables.commit_metadata(
            operation="features.ingest",
            feature_set=name,
            revision=reg.revision,
            definition_hash=reg.definition_hash,
            mode=mode,
            rows=rows,
            sources=versions,
        )
        if mode == "merge" and exists:
            version = tables.merge(frame, uri, keys=grain, metadata=metadata)
        else:
            version = tables.write(
                frame,
                uri,
                mode="overwrite" if mode == "overwrite" else "append",
                metadata=metadata,
                description=definition.description,
                # file statistics on what readers filter and join on; a wide set's features gain nothing from them
                stats_columns=None if exists else grain,
            )
    finally:
        frame.unpersist()
    log.info("ingested %s: %d rows (%s) -> version %d", name, rows, mode, version)
    return IngestResult(name=name, version=int(version), rows=rows, mode=mode, table=uri)


def _same_columns(spark: "SparkSession", uri: str, frame: "DataFrame", definition: FeatureSetDef) -> None:
    have = tables.read(spark, uri).columns
    if list(have) != list(frame.columns):
        raise FeatureError(
            f"feature set '{definition.name}': the table has columns {', '.join(have)} but the definition now "
            f"declares {', '.join(frame.columns)}",
            "rebuild it with --mode overwrite (older versions stay readable by version)",
        )


def ingest_job(
    names: Sequence[str], every: bool = False, mode: str | None = None, settings: Settings | None = None
) -> JobResult:
    """What ``jobs/build_features.py`` does: check the names, start Spark, :func:`ingest` each set in turn.

    Args:
        names: registered feature sets to ingest.
        every: ingest every registered feature set instead.
        mode: ``merge``, ``append`` or ``overwrite`` (default: each definition's mode).
        settings: platform settings (default: :func:`load_settings`).
    """
    settings = settings or load_settings()
    names = [r.name for r in registry.registered(settings)] if every else list(names)
    if not names:
        raise FeatureError("no feature set to ingest: none is registered", "register them: `mlp features apply`")
    for name in names:
        registry.get(settings, name)  # unknown names fail before Spark starts
    spark = session(app_name="mlp-build-features")
    results = [ingest(spark, settings, name, mode=mode) for name in names]
    return JobResult(
        lines=[f"{r.id}: {r.rows} rows ({r.mode})" for r in results],
        summary={"ingested": [{"id": r.id, "rows": r.rows, "mode": r.mode, "table": r.table} for r in results]},
    )
