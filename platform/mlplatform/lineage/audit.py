"""The audit log: who did what, when, read from the lineage table.

Every commit to the lineage table is one event: an action (build, register, promote,
rollback, score, export, benchmark, ...) by an actor in a job run, with the edges it
recorded. Edge-less events (a promotion, a rollback) carry their subject in a
self-referencing ``audit`` row. :func:`verify` walks the log's hash chain
(:mod:`mlplatform.lineage.chain`) and raises when a row was edited, deleted or moved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from mlplatform.config import Settings
from mlplatform.errors import AuditChainError, LineageError
from mlplatform.lineage import chain
from mlplatform.lineage.edges import COLUMNS, GraphEdge, lineage_table
from mlplatform.lineage.graph import AUDIT_RELATION, edge_from_record, load_frame

__all__ = ["Event", "parse_since", "events", "audit", "select", "verify"]

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Event:
    """One action recorded in the lineage table."""

    at: Any
    actor: str
    action: str
    job_run: str
    subjects: tuple[str, ...]
    inputs: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)

    def ids(self) -> set[str]:
        return set(self.subjects) | set(self.inputs)

    def about_model(self, model: str) -> bool:
        """True when the event touches model ``model`` (its versions, scores or benchmarks)."""
        for artifact_id in self.ids():
            kind, _, rest = artifact_id.partition(":")
            if kind in ("model", "scores", "benchmark") and rest.split("@", 1)[0] == model:
                return True
        return self.details.get("model") == model


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``7d``, ``12h``, ``30m``, ``2w`` ago, or an ISO date/time (UTC when no zone is given)."""
    now = now or datetime.now(timezone.utc)
    match = _RELATIVE.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise LineageError(
            f"--since '{text}' is neither a duration nor a date", "write e.g. 7d, 12h, 2026-05-01 or 2026-05-01T08:00"
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def events(edges: Iterable[GraphEdge]) -> list[Event]:
    """Group edges into events by (job run, action, time), oldest first."""
    groups: dict[tuple[str, str, str], list[GraphEdge]] = {}
    for edge in edges:
        groups.setdefault((edge.job_run, edge.action, str(edge.at)), []).append(edge)
    out = []
    for group in groups.values():
        first = group[0]
        linked = [e for e in group if e.relation != AUDIT_RELATION]
        subjects = [e.to_id for e in linked] or [e.to_id for e in group if e.to_id]
        inputs = [e.from_id for e in linked]
        out.append(
            Event(
                first.at,
                first.actor,
                first.action,
                first.job_run,
                tuple(dict.fromkeys(subjects)),
                tuple(dict.fromkeys(inputs)),
                first.details,
            )
        )
    out.sort(key=lambda ev: _utc(ev.at))
    return out


def _utc(at: Any) -> datetime:
    if at is None or at != at:
        return datetime.min.replace(tzinfo=timezone.utc)
    when = at.to_pydatetime() if hasattr(at, "to_pydatetime") else at
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def audit(
    settings: Settings,
    since: str | datetime | None = None,
    model: str | None = None,
    action: str | None = None,
    artifact: str | None = None,
    limit: int | None = None,
) -> list[Event]:
    """Events from the lineage table, oldest first, filtered.

    Args:
        since: keep events at or after this time (``7d``, ``2026-05-01``, or a datetime).
        model: keep events touching this registered model's versions, scores or benchmarks.
        action: keep one action (build, register, promote, rollback, score, export, ...).
        artifact: keep events whose subjects or inputs include this id.
        limit: keep the newest ``limit`` events.
    """
    frame = load_frame(settings)
    return select(events(edge_from_record(r) for r in frame.to_dict("records")), since, model, action, artifact, limit)


def select(
    found: list[Event],
    since: str | datetime | None = None,
    model: str | None = None,
    action: str | None = None,
    artifact: str | None = None,
    limit: int | None = None,
) -> list[Event]:
    """The events of ``found`` (oldest first) that :func:`audit` keeps with these filters."""
    if since is not None:
        start = parse_since(since) if isinstance(since, str) else since
        found = [e for e in found if _utc(e.at) >= start]
    if model:
        found = [e for e in found if e.about_model(model)]
    if action:
        found = [e for e in found if e.action == action]
    if artifact:
        found = [e for e in found if artifact in e.ids()]
    return found[-limit:] if limit else found


def verify(settings: Settings) -> chain.ChainReport:
    """Walk the audit log's hash chain; the report when it is intact.

    Raises:
        AuditChainError: the first row that does not match (edited, deleted or moved); exit code 5.
    """
    report = chain.verify(lineage_table(settings), COLUMNS)
    if report.broken is not None:
        raise AuditChainError(
            f"audit log {report.table}: chain broken at {report.broken.describe()}",
            "the log was altered after it was written: compare with a backup or the Delta history "
            "('mlp tables history _platform/lineage') and find who changed it",
        )
    return report
