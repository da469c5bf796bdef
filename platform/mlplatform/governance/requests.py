"""Promotion requests and their decisions: an append-only Delta table and an audit row per action.

``<warehouse>/_platform/governance/requests`` holds one row per event of a request:
``requested`` (a promotion asked for, by the requester), ``break_glass`` (an owner's
rollback done without approval: the approval is owed), ``approved`` and ``rejected`` (by
an approver). A request's state is folded from its events: ``pending`` until decided or
until ``expires_at``, then ``expired``; a break-glass one stays ``owed`` until approved.

Example:
    >>> [r.line() for r in load_requests(settings, "churn")]   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from mlplatform import tables
from mlplatform.config import Settings
from mlplatform.identity import current_actor
from mlplatform.lineage.edges import record

__all__ = ["Request", "requests_table", "load_requests", "add_request", "decide", "EVENTS"]

log = logging.getLogger(__name__)

EVENTS = ("requested", "break_glass", "approved", "rejected")
COLUMNS = ["request_id", "model", "version", "event", "kind", "actor", "at", "expires_at", "reason", "job_run"]


@dataclass(frozen=True)
class Request:
    """One request with its decision, if any."""

    request_id: str
    model: str
    version: int
    kind: str  # promotion | break_glass
    requester: str
    reason: str
    requested_at: datetime
    expires_at: datetime | None
    decision: str | None = None  # approved | rejected
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str = ""

    @property
    def subject(self) -> str:
        return f"model:{self.model}@{self.version}"

    def status(self, now: datetime | None = None) -> str:
        """pending | approved | rejected | expired | owed (a break-glass rollback awaiting its approval)."""
        if self.decision:
            return self.decision
        if self.kind == "break_glass":
            return "owed"
        now = now or datetime.now(timezone.utc)
        return "expired" if self.expires_at is not None and now >= self.expires_at else "pending"


def requests_table(settings: Settings) -> str:
    """URI of the requests table."""
    return tables.table_uri(settings, "_platform", "governance", "requests")


def _utc(value: Any) -> datetime | None:
    if value is None or value != value:
        return None
    when = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def load_requests(settings: Settings, model: str | None = None) -> list[Request]:
    """Every request (of ``model``), oldest first, each with its decision."""
    uri = requests_table(settings)
    if not tables.exists(uri):
        return []
    frame = tables.to_pandas(uri)
    if model:
        frame = frame[frame["model"] == model]
    found: dict[str, Request] = {}
    for row in frame.sort_values("at", kind="stable").to_dict("records"):
        rid = str(row["request_id"])
        if row["event"] in ("requested", "break_glass"):
            found[rid] = Request(
                rid,
                str(row["model"]),
                int(row["version"]),
                str(row["kind"]),
                str(row["actor"]),
                str(row["reason"] or ""),
                _utc(row["at"]),  # type: ignore[arg-type]
                _utc(row["expires_at"]),
            )
        elif rid in found and found[rid].decision is None:
            found[rid] = replace(
                found[rid],
                decision=str(row["event"]),
                decided_by=str(row["actor"]),
                decided_at=_utc(row["at"]),
                note=str(row["reason"] or ""),
            )
    return sorted(found.values(), key=lambda r: r.requested_at)


def _append(settings: Settings, row: Mapping[str, Any], subject: str, details: Mapping[str, Any], job_run: str) -> None:
    """The event row, then its audit row (action ``governance.<event>``)."""
    import pandas as pd

    frame = pd.DataFrame([{c: row.get(c) for c in COLUMNS}], columns=COLUMNS)
    for column in ("at", "expires_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["version"] = frame["version"].astype("int64")
    for column in ("request_id", "model", "event", "kind", "actor", "reason", "job_run"):
        frame[column] = frame[column].astype("string")
    tables.write_pandas(frame, requests_table(settings), mode="append", metadata={"job": f"governance-{row['event']}"})
    record(settings, [], action=f"governance.{row['event']}", job_run=job_run, details=details, subject=subject)


def add_request(
    settings: Settings,
    model: str,
    version: int,
    reason: str,
    ttl_hours: float,
    kind: str = "promotion",
    job_run: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Request:
    """A new request by the current user (``kind`` ``break_glass``: the rollback is done, approval owed)."""
    now = datetime.now(timezone.utc)
    request = Request(
        uuid.uuid4().hex[:12],
        model,
        int(version),
        kind,
        current_actor(),
        reason,
        now,
        None if kind == "break_glass" else now + timedelta(hours=ttl_hours),
    )
    event = "break_glass" if kind == "break_glass" else "requested"
    run = job_run or f"{event}-{request.request_id}"
    row = {**request.__dict__, "event": event, "actor": request.requester, "at": now, "job_run": run}
    details = {"model": model, "version": int(version), "request": request.request_id, "reason": reason,
               "expires_at": request.expires_at, **dict(extra or {})}  # fmt: skip
    _append(settings, row, request.subject, details, run)
    log.debug("request %s: %s of %s by %s", request.request_id, kind, request.subject, request.requester)
    return request


def decide(
    settings: Settings, request: Request, decision: str, note: str, extra: Mapping[str, Any] | None = None
) -> Request:
    """Record ``decision`` (approved | rejected) of ``request`` by the current user."""
    now = datetime.now(timezone.utc)
    actor = current_actor()
    run = f"{decision}-{request.request_id}"
    row = {
        "request_id": request.request_id,
        "model": request.model,
        "version": request.version,
        "event": decision,
        "kind": request.kind,
        "actor": actor,
        "at": now,
        "expires_at": request.expires_at,
        "reason": note,
        "job_run": run,
    }
    details = {"model": request.model, "version": request.version, "request": request.request_id,
               "requester": request.requester, "kind": request.kind, "reason": note, **dict(extra or {})}  # fmt: skip
    _append(settings, row, request.subject, details, run)
    return replace(request, decision=decision, decided_by=actor, decided_at=now, note=note)
