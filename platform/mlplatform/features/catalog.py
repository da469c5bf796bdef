"""Discovery: list, search, describe, history and preview feature sets; read them into pandas.

Everything here reads with deltalake: no SparkSession, no JVM.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Sequence

from mlplatform import tables
from mlplatform.config import Settings, load_settings
from mlplatform.errors import FeatureError
from mlplatform.features import registry
from mlplatform.features.ingestion import feature_table
from mlplatform.tables.manifests import trainset_manifests

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read", "summaries", "search", "describe", "history", "preview", "used_by", "trainset_names"]

log = logging.getLogger(__name__)


def _table(settings: Settings, name: str) -> str:
    registry.get(settings, name)
    uri = feature_table(settings, name)
    if not tables.exists(uri):
        raise FeatureError(
            f"feature set '{name}' is registered but has no table yet ({uri})",
            f"ingest it: `mlp features ingest {name}`",
        )
    return uri


def read(
    name: str,
    version: int | None = None,
    as_of: datetime | str | None = None,
    columns: Sequence[str] | None = None,
    filters: Any = None,
    settings: Settings | None = None,
) -> "pd.DataFrame":
    """A feature set's rows as pandas, without Spark.

    Args:
        name: a registered feature set.
        version: the Delta version ``fs:<name>@v<version>`` (default latest).
        as_of: the table as it was at this time (ISO string or datetime); exclusive with ``version``.
        columns: columns to read (default all).
        filters: ``[("customer_id", "=", 7)]``-style filters (AND; a list of lists is OR of ANDs).

    Example:
        >>> from mlplatform import features
        >>> features.read("account_activity", columns=["customer_id", "event_time", "logins"])  # doctest: +SKIP
    """
    settings = settings or load_settings()
    return tables.to_pandas(_table(settings, name), columns=columns, filters=filters, version=version, timestamp=as_of)


def preview(name: str, limit: int = 10, settings: Settings | None = None) -> "pd.DataFrame":
    """The first ``limit`` rows of a feature set."""
    settings = settings or load_settings()
    return tables.to_pandas(_table(settings, name), limit=limit)


def _table_summary(settings: Settings, reg: registry.Registered, time_range: bool) -> dict[str, Any]:
    uri = feature_table(settings, reg.name)
    summary: dict[str, Any] = {"table": uri, "version": None, "rows": None, "size_bytes": None}
    if not tables.exists(uri):
        return summary
    info = tables.describe(uri)
    summary.update(
        version=info.version,
        rows=info.num_rows,
        size_bytes=info.size_bytes,
        id=f"fs:{reg.name}@v{info.version}",
        last_commit_at=info.last_commit_at,
        schema=[(c.name, c.type) for c in info.columns],
    )
    if time_range and info.num_rows:
        import pyarrow.compute as pc

        column = reg.definition.event_timestamp
        bounds = pc.min_max(tables.to_arrow(uri, columns=[column]).column(column))
        summary["time_range"] = (bounds["min"].as_py(), bounds["max"].as_py())
    return summary


def summaries(settings: Settings | None = None) -> list[dict[str, Any]]:
    """One line per registered feature set: definition fields and its table's version and rows."""
    settings = settings or load_settings()
    out = []
    for reg in registry.registered(settings):
        d = reg.definition
        out.append(
            {
                "name": d.name,
                "revision": reg.revision,
                "description": d.description,
                "owner": d.owner,
                "tags": d.tags,
                "keys": d.keys,
                "features": d.feature_names,
                **_table_summary(settings, reg, time_range=False),
            }
        )
    return out


def search(text: str, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Feature sets whose name, description, owner, tags, or a feature's name or description contain ``text``."""
    needle = text.lower()
    settings = settings or load_settings()
    hits = []
    for reg in registry.registered(settings):
        d = reg.definition
        fields = [d.name, d.description, d.owner, *d.tags]
        matched = [f.name for f in d.features if needle in f.name.lower() or needle in f.description.lower()]
        if matched or any(needle in f.lower() for f in fields):
            hits.append(
                {
                    "name": d.name,
                    "description": d.description,
                    "owner": d.owner,
                    "tags": d.tags,
                    "matching_features": matched,
                }
            )
    return hits


def trainset_names(settings: Settings) -> list[str]:
    """Training sets in the warehouse (local warehouses; none listed on remote storage)."""
    root = tables.table_uri(settings, "training_sets", "_")[:-2]
    return [loc.rstrip("/").rsplit("/", 1)[-1] for loc in tables.list_tables(root)]


def used_by(name: str, settings: Settings | None = None) -> dict[str, list[str]]:
    """Training-set versions whose manifests read ``name`` (the models trained on them are in the lineage)."""
    settings = settings or load_settings()
    sets = []
    for trainset in trainset_names(settings):
        sets += [m["id"] for m in trainset_manifests(settings, trainset) if name in m.get("features", {})]
    return {"training_sets": sets}


def describe(name: str, settings: Settings | None = None) -> dict[str, Any]:
    """Everything known about a feature set: definition, revisions, table, time range, users."""
    settings = settings or load_settings()
    reg = registry.get(settings, name)
    return {
        "definition": reg.definition,
        "revision": reg.revision,
        "revisions": len(registry.revisions(settings, name)),
        "applied_at": reg.applied_at,
        **_table_summary(settings, reg, time_range=True),
        "used_by": used_by(name, settings),
    }


def history(name: str, settings: Settings | None = None) -> dict[str, list[dict[str, Any]]]:
    """The feature table's commits and the definition's revisions, oldest first."""
    settings = settings or load_settings()
    revisions = [
        {
            "revision": r.revision,
            "applied_at": r.applied_at,
            "applied_by": r.applied_by,
            "definition_hash": r.definition_hash[:12],
            "features": r.definition.feature_names,
        }
        for r in registry.revisions(settings, name)
    ]
    if not revisions:
        registry.get(settings, name)  # raises naming the registered sets
    uri = feature_table(settings, name)
    commits = []
    if tables.exists(uri):
        for c in sorted(tables.history(uri), key=lambda c: c.version):
            commits.append(
                {
                    "id": f"fs:{name}@v{c.version}",
                    "version": c.version,
                    "at": c.timestamp,
                    "operation": c.operation,
                    "mode": c.metadata.get("mode"),
                    "rows": c.metadata.get("rows"),
                    "revision": c.metadata.get("revision"),
                    "user": c.metadata.get("user"),
                }
            )
    return {"table": commits, "definitions": revisions}
