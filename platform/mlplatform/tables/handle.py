"""Opening a Delta table without Spark: the deltalake handle, whether it exists, its latest version."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mlplatform.errors import TableError, error_line
from mlplatform.tables.locate import normalize

if TYPE_CHECKING:
    from deltalake import DeltaTable

__all__ = ["open_table", "exists", "version", "current_version"]

log = logging.getLogger(__name__)


def open_table(table: str, version: int | None = None) -> tuple["DeltaTable", str]:
    """Open the table at ``version`` (default latest); TableError naming it when missing."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    uri = normalize(table)
    try:
        dt = DeltaTable(uri)
    except TableNotFoundError as exc:
        raise TableError(
            f"table {uri} does not exist (no Delta log there)",
            "check the name with 'mlp tables list', or write the table first",
        ) from exc
    except Exception as exc:  # noqa: BLE001 - delta-rs raises DeltaError/OSError of many kinds
        raise TableError(
            f"table {uri} cannot be opened: {error_line(exc, limit=500)}",
            "check the path and that it holds a Delta table",
        ) from exc
    if version is None:
        return dt, uri
    latest = dt.version()
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= latest:
        raise TableError(f"table {uri} has no version {version!r}", f"versions go from 0 to {latest}")
    if version == latest:
        return dt, uri
    try:
        dt.load_as_version(version)
    except Exception as exc:  # noqa: BLE001
        raise TableError(
            f"table {uri} cannot be read at version {version}: {error_line(exc, limit=500)}",
            "its log or files may have been cleaned up by VACUUM / log retention; use a newer version",
        ) from exc
    return dt, uri


def exists(table: str) -> bool:
    """True when ``table`` holds a Delta table with at least one commit."""
    from deltalake import DeltaTable

    try:
        return bool(DeltaTable.is_deltatable(normalize(table)))
    except Exception:  # noqa: BLE001 - unreachable storage means "not there" to callers
        log.debug("is_deltatable(%s) failed", table, exc_info=True)
        return False


def current_version(table: str) -> int:
    """The latest version of ``table``, or -1 when it does not exist yet."""
    return version(table) if exists(table) else -1


def version(table: str) -> int:
    """The latest version of ``table``."""
    dt, _ = open_table(table)
    return int(dt.version())
