"""Manifests in Delta commit metadata: what each version of a built table was made from.

A training set's build commits its rows together with a manifest, under the key
``trainset`` of the commit's platform metadata: the feature-set versions, the label
table version, the spec hash, the row count. Two areas read them and neither owns
the other: :mod:`mlplatform.features` (the training-set API) and
:mod:`mlplatform.lineage` (edges of training sets built outside the lifecycle).
"""

from __future__ import annotations

from typing import Any

from mlplatform.config import Settings
from mlplatform.tables.commits import history
from mlplatform.tables.handle import exists
from mlplatform.tables.locate import table_uri

__all__ = ["TRAINSET_KEY", "trainset_uri", "trainset_manifests"]

TRAINSET_KEY = "trainset"


def trainset_uri(settings: Settings, name: str) -> str:
    """``<warehouse>/training_sets/<name>``."""
    return table_uri(settings, "training_sets", name)


def trainset_manifests(settings: Settings, name: str) -> list[dict[str, Any]]:
    """The manifest of every version of training set ``name``, oldest first, with ``id``, ``version`` and
    ``committed_at``; empty when the training set was never built."""
    uri = trainset_uri(settings, name)
    if not exists(uri):
        return []
    out = []
    for commit in sorted(history(uri), key=lambda c: c.version):
        manifest = commit.metadata.get(TRAINSET_KEY)
        if isinstance(manifest, dict):
            out.append(
                {
                    **manifest,
                    "id": f"ts:{name}@v{commit.version}",
                    "version": commit.version,
                    "committed_at": commit.timestamp.isoformat(),
                }
            )
    return out
