"""The data of the lineage and audit pages: a walk around one id, and the filtered audit log."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from mlplatform.catalog.paging import BadQuery
from mlplatform.config import Settings
from mlplatform.errors import AuditChainError, LineageError, UnknownIdError
from mlplatform.lineage.audit import Event, parse_since, select, verify
from mlplatform.lineage.graph import LineageGraph, check_id
from mlplatform.lineage.render import svg

__all__ = ["lineage", "audit_events", "chain"]


def lineage(artifact_id: str, graph: LineageGraph) -> dict[str, Any]:
    """The picture of everything upstream and downstream of ``artifact_id`` and its edges.

    Raises:
        BadQuery: the id is malformed.
        UnknownIdError: the id is recorded in no edge.
    """
    try:
        wanted = check_id(artifact_id)
    except UnknownIdError as exc:
        raise BadQuery(exc.render()) from exc
    walk = graph.walk(graph.latest(wanted))
    return {"walk": walk, "svg": svg(walk, engine="builtin")}


def _time(params: Mapping[str, str], key: str) -> datetime | None:
    raw = params.get(key, "").strip()
    if not raw:
        return None
    try:
        return parse_since(raw)
    except LineageError as exc:
        raise BadQuery(f"'{key}': {exc.render()}") from exc


def audit_events(recorded: list[Event], params: Mapping[str, str]) -> list[Event]:
    """Of ``recorded`` (oldest first), those of a model, action, actor and time (``since``, ``until``), newest first."""
    since, until = _time(params, "since"), _time(params, "until")
    found = select(
        recorded,
        since=since,
        model=params.get("model") or None,
        action=params.get("action") or None,
        artifact=params.get("id") or None,
    )
    actor = params.get("actor", "").strip()
    if actor:
        found = [e for e in found if e.actor == actor]
    if until is not None:
        found = [e for e in found if e.at is not None and _aware(e.at) <= until]
    return list(reversed(found))


def chain(settings: Settings) -> dict[str, Any]:
    """The audit log's hash chain as ``mlp audit verify`` walks it: ``ok`` and the lines to show."""
    try:
        report = verify(settings)
    except AuditChainError as exc:
        return {"ok": False, "lines": [exc.render()]}
    return {"ok": True, "lines": report.lines()[1:]}


def _aware(at: Any) -> datetime:
    when = at.to_pydatetime() if hasattr(at, "to_pydatetime") else at
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
