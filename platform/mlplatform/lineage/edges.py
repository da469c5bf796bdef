"""Association edges between artifacts, appended to one Delta table that is also the audit log.

An edge reads "``from_id`` is the ``relation`` of ``to_id``": upstream on the left,
the product on the right, e.g. ``Edge("fs:activity@v3", "feature_set", "ts:churn@v1")``.
Relations used by the platform: ``feature_set``, ``label_source``, ``training_set``,
``environment``, ``code``, ``model``, ``input``, ``promoted``.
Each row also says which action of which job run wrote it, by whom (the authenticated
user, :func:`mlplatform.identity.current_actor`) and when, and carries its place in the
audit log's hash chain (:mod:`mlplatform.lineage.chain`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from mlplatform import tables
from mlplatform.config import Settings
from mlplatform.identity import current_actor
from mlplatform.lineage import chain
from mlplatform.tables import table_uri

__all__ = ["Edge", "GraphEdge", "record", "lineage_table", "COLUMNS"]

log = logging.getLogger(__name__)

COLUMNS = ["from_id", "relation", "to_id", "action", "job_run", "actor", "at", "details"]


@dataclass(frozen=True)
class GraphEdge:
    """One edge as recorded: ``from_id`` is the ``relation`` of ``to_id``, written by ``action``."""

    from_id: str
    relation: str
    to_id: str
    action: str = ""
    job_run: str = ""
    actor: str = ""
    at: Any = None
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Edge:
    """``from_id`` is the ``relation`` of ``to_id``."""

    from_id: str
    relation: str
    to_id: str


def lineage_table(settings: Settings) -> str:
    """URI of the lineage/audit Delta table."""

    return table_uri(settings, "_platform", "lineage")


def record(
    settings: Settings,
    edges: Sequence[Edge],
    action: str,
    job_run: str,
    details: Mapping[str, Any] | None = None,
    subject: str | None = None,
) -> int:
    """Append ``edges`` (or, with none, one audit row about ``subject``) in one commit.

    The rows are linked after the head of the audit log's hash chain (retrying when a
    concurrent writer moved it); ``actor`` is the authenticated user, never an argument.

    Args:
        action: what happened: build, register, promote, rollback, score, export, ...
        job_run: the run that did it (an MLflow run id or a job run key).
        details: small JSON-able facts for the audit log.
        subject: the artifact an edge-less audit row is about.

    Returns:
        The Delta version of the lineage table after the commit.
    """
    at = datetime.now(timezone.utc)
    actor = current_actor()
    info = json.dumps(dict(details or {}), sort_keys=True, default=str)
    pairs = [(e.from_id, e.relation, e.to_id) for e in edges] or [(subject or "", "audit", subject or "")]
    rows = [
        {
            "from_id": f,
            "relation": r,
            "to_id": t,
            "action": action,
            "job_run": job_run,
            "actor": actor,
            "at": at,
            "details": info,
        }
        for f, r, t in pairs
    ]
    version = chain.append(lineage_table(settings), rows, COLUMNS, tables.commit_metadata(job=action, run_id=job_run))
    log.debug("lineage: %s recorded %d edge(s) at version %d", action, len(edges), version)
    return version
