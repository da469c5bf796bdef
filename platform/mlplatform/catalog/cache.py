"""Values the catalog derives from a Delta table or the model registry, kept while their source stays the same.

The lineage graph, the audit events and the hash chain's verdict all come from the one
lineage table of 100,000s of rows; reading and verifying it again for every page would
cost seconds. A page asks :meth:`TableCache.get`: one incremental read of the Delta log
(the handle stays open; ``update_incremental`` reads only newer commits) says whether
the value kept is still the table's, else it is computed again.

A chain verdict kept this way holds for the commits it walked: a data file edited in place,
without a commit, is found by ``mlp audit verify`` (or the next commit), not by a warm page.

A model's description (every version, its tags and held-out metrics) costs a second and
more at 1,000 versions; :class:`RegistryCache` keeps it while the registered model's state
(``lifecycle.models.registry_state``: last update, aliases, tags, description; one registry
call for one model or for all) is unchanged, and for at most ``ttl_s``: MLflow moves no
timestamp when a version's tags change, so such a change shows within ``ttl_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from mlplatform import tables
from mlplatform.config import Settings
from mlplatform.lifecycle.models import ModelDescription, describe, registered_models, registry_state
from mlplatform.tables.locate import normalize

if TYPE_CHECKING:
    from deltalake import DeltaTable

__all__ = ["TableCache", "RegistryCache", "REGISTRY_TTL_S"]

log = logging.getLogger(__name__)

T = TypeVar("T")

REGISTRY_TTL_S = 30.0


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


class RegistryCache:
    """``describe(name)``: the model's description, described again when its registry state moved or aged."""

    def __init__(self, settings: Settings, ttl_s: float = REGISTRY_TTL_S) -> None:
        self.settings = settings
        self.ttl_s = ttl_s
        self._kept: dict[str, tuple[tuple[Any, ...], float, ModelDescription]] = {}
        self._lock = threading.Lock()

    def describe(self, name: str) -> ModelDescription:
        """The description of model ``name`` (UnknownModelError when it is not registered)."""
        (registered,) = registered_models(self.settings, name)
        return self._kept_or_described(registered)

    def models(self) -> list[ModelDescription]:
        """The description of every registered model, by name."""
        return [self._kept_or_described(registered) for registered in registered_models(self.settings)]

    def _kept_or_described(self, registered: Any) -> ModelDescription:
        name, state = registered.name, registry_state(registered)
        with self._lock:
            kept = self._kept.get(name)
        if kept is not None and kept[0] == state and time.monotonic() - kept[1] < self.ttl_s:
            return kept[2]
        started = time.monotonic()
        found = describe(name, self.settings)
        with self._lock:
            self._kept[name] = (state, started, found)
        log.debug("catalog cache: model %s described (%d versions)", name, len(found.versions))
        return found

    def forget(self, name: str) -> None:
        """Drop the kept description (after an action of this catalog changed the model)."""
        with self._lock:
            self._kept.pop(name, None)
