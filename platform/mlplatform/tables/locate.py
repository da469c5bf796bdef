"""Where a table lives: warehouse-relative names, local paths and ``hdfs://`` URIs."""

from __future__ import annotations

import os
from pathlib import Path

from mlplatform.config import Settings
from mlplatform.errors import TableError

__all__ = ["table_uri", "normalize", "local_path", "resolve_name", "spark_location"]


def table_uri(settings: Settings, *parts: str) -> str:
    """URI of a table in the warehouse: ``f"{settings.warehouse}/{'/'.join(parts)}"``.

    Works the same for a local warehouse and an ``hdfs://`` one.

    Example:
        >>> table_uri(settings, "features", "customers")  # doctest: +SKIP
        '/home/me/project/.mlp/warehouse/features/customers'
    """
    if not parts or any(not p or p.strip("/") != p or ".." in p.split("/") for p in parts):
        raise TableError(
            f"table name {'/'.join(parts)!r} is not valid",
            "pass non-empty name parts without leading/trailing '/' or '..', "
            "e.g. table_uri(settings, 'features', 'customers')",
        )
    return f"{str(settings.warehouse).rstrip('/')}/{'/'.join(parts)}"


def normalize(table: str | os.PathLike[str]) -> str:
    """The canonical form of a table location: an absolute local path, or a URI for other schemes.

    ``file:///x`` becomes ``/x``; relative paths are made absolute; ``hdfs://...`` is kept.
    """
    text = os.fspath(table).strip()
    if not text:
        raise TableError(
            "empty table location", "pass a path or URI such as tables.table_uri(settings, 'features', 'x')"
        )
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif text.startswith("file:/"):
        text = text[len("file:") :]
    if "://" in text:
        return text.rstrip("/")
    return str(Path(text).expanduser().absolute()).rstrip("/") or "/"


def local_path(uri: str) -> Path | None:
    """The local folder of a normalized table location, or ``None`` for remote storage."""
    return None if "://" in uri else Path(uri)


def spark_location(uri: str) -> str:
    """A normalized location as Spark must get it: local paths as ``file://``.

    A bare path means the default file system, which is HDFS on any machine whose
    ``HADOOP_CONF_DIR`` names a cluster; the platform's local paths are local.
    """
    return uri if "://" in uri else f"file://{uri}"


def resolve_name(settings: Settings, name: str) -> str:
    """A table given by a user: a URI or absolute/explicitly relative path as is, else a warehouse name."""
    if "://" in name or name.startswith(("/", "./", "../", "~")):
        return normalize(name)
    return normalize(table_uri(settings, *name.strip("/").split("/")))
