"""Edges of training sets, from the manifests their builds commit.

Every training-set version carries a manifest in its Delta commit (the feature-set
versions and label-table version it read). These edges are recorded by the jobs
that build training sets through the lifecycle, and read back from the manifests
for training sets built otherwise (``mlp trainset build``), so the lineage of a model
always reaches the feature-set versions it was trained on.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

from mlplatform.config import Settings
from mlplatform.errors import PlatformError
from mlplatform.lineage.edges import Edge, GraphEdge
from mlplatform.tables.manifests import trainset_manifests

__all__ = ["trainset_edges", "manifest_edges"]

log = logging.getLogger(__name__)


def trainset_edges(ts_id: str, manifest: dict[str, Any]) -> list[Edge]:
    """``fs:<set>@v<n> -feature_set-> ts_id`` for each feature set read, and the label table's edge."""
    edges = [Edge(info["id"], "feature_set", ts_id) for info in (manifest.get("features") or {}).values()]
    labels = manifest.get("labels") or {}
    if labels.get("table"):
        name = str(labels["table"]).rstrip("/").rsplit("/", 1)[-1]
        edges.append(Edge(f"table:{name}@v{labels.get('version')}", "label_source", ts_id))
    return edges


def manifest_edges(settings: Settings, ids: Iterable[str], recorded: set[str]) -> list[GraphEdge]:
    """Edges read from the manifests of the training sets among ``ids`` that have none in ``recorded``."""
    wanted: dict[str, set[int]] = {}
    for artifact_id in ids:
        kind, _, rest = artifact_id.partition(":")
        name, _, version = rest.rpartition("@v")
        if kind == "ts" and version.isdigit() and artifact_id not in recorded:
            wanted.setdefault(name, set()).add(int(version))
    out: list[GraphEdge] = []
    for name, versions in wanted.items():
        try:
            manifests = [m for m in trainset_manifests(settings, name) if m["version"] in versions]
        except PlatformError as exc:
            log.debug("no manifests for training set %s: %s", name, exc)
            continue
        for manifest in manifests:
            details = {"from": "training-set manifest", "rows": manifest.get("row_count")}
            for e in trainset_edges(manifest["id"], manifest):
                out.append(
                    GraphEdge(
                        e.from_id, e.relation, e.to_id, "build_trainset", "", "", manifest.get("committed_at"), details
                    )
                )
    return out
