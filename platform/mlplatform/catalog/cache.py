"""Values the catalog derives from a Delta table, kept while the table's version stays the same.

The lineage graph, the audit events and the hash chain's verdict all come from the one
lineage table of 100,000s of rows; reading and verifying it again for every page would
cost seconds. A page asks :meth:`TableCache.get`: one incremental read of the Delta log
(the handle stays open; ``update_incremental`` reads only newer commits) says whether
the value kept is still the table's, else it is computed again.

A chain verdict kept this way holds for the commits it walked: a data file edited in place,
without a commit, is found by ``mlp audit verify`` (or the next commit), not by a warm page.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from mlplatform import tables
from mlplatform.tables.locate import normalize

if TYPE_CHECKING:
    from deltalake import DeltaTable

__all__ = ["TableCache"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class TableCache:
    """``get(uri, key, compute)``: ``compute()`` once per version of the table at ``uri``."""

    def __init__(self) -> None:
        self._handles: dict[str, DeltaTable] = {}
        self._values: dict[tuple[str, str], tuple[int, Any]] = {}
        self._lock = threading.Lock()

    def version(self, uri: str) -> int:
        """The table's latest version (-1 while it does not exist), from the log commits not yet seen."""
        from deltalake import DeltaTable

        with self._lock:
            handle = self._handles.get(uri)
            if handle is None:
                if not tables.exists(uri):
                    return -1
                handle = self._handles[uri] = DeltaTable(normalize(uri), without_files=True)
            else:
                handle.update_incremental()
            return int(handle.version())

    def get(self, uri: str, key: str, compute: Callable[[], T]) -> T:
        """The value of ``compute()`` for the table's current version (computed now when the table moved)."""
        current = self.version(uri)
        kept = self._values.get((uri, key))
        if kept is not None and kept[0] == current:
            return kept[1]  # type: ignore[no-any-return]
        value = compute()
        self._values[(uri, key)] = (current, value)
        log.debug("catalog cache: %s of %s computed at version %d", key, uri, current)
        return value
