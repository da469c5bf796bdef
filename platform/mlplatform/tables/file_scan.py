"""Spark scans planned from the Delta log that delta-rs read: no state reconstruction.

delta-spark plans the first scan of a version its JVM has not seen with four Spark jobs
(read the log, repartition it into ``snapshotPartitions``, cache, aggregate) before the
first data task, ~1 s on a small table, and every new ``spark-submit`` driver meets every
table that way. ``tables.read`` has already opened the version with delta-rs, so for a
table whose files are plain Parquet (reader protocol 1: no deletion vectors, no column
mapping, no reader features) it hands Spark that version's file list and schema: the scan
is planned as a Parquet scan of exactly those files, the same files :func:`to_pandas` reads.

Delta's own scan is kept where it does something this one cannot: a table above
``spark.mlplatform.tables.fileScanMaxFiles`` files (default 1000; 0 turns the file scan
off), where Delta's per-file statistics skip files under a filter; a partition column of a
type Spark would parse differently from a folder name (timestamps, decimals, binary); files
not in ``column=value/`` folders, one per partition column.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import TYPE_CHECKING, Iterator

from mlplatform.errors import TableError, error_line
from mlplatform.tables.locate import spark_location
from mlplatform.tables.reader import quote_ident

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["MAX_FILES_CONF", "DEFAULT_MAX_FILES", "plain_files", "read_files"]

log = logging.getLogger(__name__)

MAX_FILES_CONF = "spark.mlplatform.tables.fileScanMaxFiles"
DEFAULT_MAX_FILES = 1000

# Spark lists more explicit paths than this with a Spark job (default 32); a local
# file system answers a stat in microseconds, so the job only costs time there.
_LISTING_THRESHOLD_CONF = "spark.sql.sources.parallelPartitionDiscovery.threshold"
# Partition values Spark parses from a folder name exactly as Delta stores them.
_FOLDER_TYPES = frozenset({"string", "date", "boolean", "byte", "short", "integer", "long"})
# Hadoop expands these in a path given to spark.read.
_GLOB_CHARACTERS = frozenset("*?[]{}\\")


def _max_files(spark: "SparkSession") -> int:
    value = spark.conf.get(MAX_FILES_CONF, str(DEFAULT_MAX_FILES))
    try:
        return int(value or DEFAULT_MAX_FILES)
    except ValueError:
        log.warning("%s=%r is not a number of files; using %d", MAX_FILES_CONF, value, DEFAULT_MAX_FILES)
        return DEFAULT_MAX_FILES


def _in_partition_folders(files: list[str], root: str, partition_columns: list[str]) -> bool:
    for path in files:
        if not path.startswith(root) or any(c in _GLOB_CHARACTERS for c in path):
            return False
        folders = path[len(root) :].split("/")[:-1]
        if len(folders) != len(partition_columns):
            return False
        if any(not folder.startswith(column + "=") for folder, column in zip(folders, partition_columns)):
            return False
    return True


def plain_files(spark: "SparkSession", dt: "DeltaTable", uri: str) -> list[str] | None:
    """The opened version's data files when Spark can read them as plain Parquet, else None."""
    limit = _max_files(spark)
    protocol = dt.protocol()
    if limit <= 0 or protocol.min_reader_version > 1 or protocol.reader_features:
        return None
    partition_columns = list(dt.metadata().partition_columns)
    types = {field.name: getattr(field.type, "type", None) for field in dt.schema().fields}
    if any(types.get(column) not in _FOLDER_TYPES for column in partition_columns):
        return None
    files = dt.file_uris()
    root = uri.rstrip("/") + "/"
    if len(files) > limit or not _in_partition_folders(files, root, partition_columns):
        log.debug("table %s: %d files, Delta plans the scan", uri, len(files))
        return None
    return files


@contextlib.contextmanager
def _serial_listing(spark: "SparkSession", count: int) -> Iterator[None]:
    previous = spark.conf.get(_LISTING_THRESHOLD_CONF, None)
    threshold = max(count + 1, int(previous or 32))
    spark.conf.set(_LISTING_THRESHOLD_CONF, str(threshold))
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(_LISTING_THRESHOLD_CONF)
        else:
            spark.conf.set(_LISTING_THRESHOLD_CONF, previous)


def read_files(spark: "SparkSession", dt: "DeltaTable", uri: str, files: list[str]) -> "DataFrame":
    """The version's rows: a Parquet scan of ``files`` with the table's schema and partition folders."""
    from pyspark.sql.types import StructType

    schema = StructType.fromJson(json.loads(dt.schema().to_json()))
    if not files:
        return spark.createDataFrame([], schema)
    local = "://" not in uri
    paths = [spark_location(f) for f in files]
    reader = spark.read.schema(schema).option("basePath", spark_location(uri))
    try:
        with _serial_listing(spark, len(paths)) if local else contextlib.nullcontext():
            frame = reader.parquet(*paths)
    except Exception as exc:  # noqa: BLE001 - Spark's AnalysisException, a Py4J error below it
        if "PATH_NOT_FOUND" not in str(exc):
            raise
        raise TableError(
            f"table {uri} version {dt.version()} lists data files that are gone: {error_line(exc, limit=300)}",
            "files were deleted outside Delta; restore them, or read an older version that does not use them",
        ) from exc
    if frame.columns == schema.names:
        return frame
    return frame.select(*[quote_ident(name, "spark") for name in schema.names])
