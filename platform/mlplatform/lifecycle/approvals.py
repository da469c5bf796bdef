"""Two-person promotion: request, approve or reject a champion change (``conf/governance.yaml``).

A version becomes champion through an approval only by an approver (a user or a member
of an ``@group`` listed under ``approvers``) who neither registered the version
(:func:`mlplatform.governance.authors.registered_by`) nor asked for the promotion. Who is
acting is the authenticated user (:func:`mlplatform.identity.current_actor`); the web
catalog passes ``actor``, the user its HTTP login authenticated (the CLI never does).

The champion changes first, carrying the approval in its audit row, then the decision is
recorded: when the second write fails, re-running ``approve`` finds the request still
pending, the promotion already done (nothing changes) and records the decision.

Example:
    >>> request_promotion("churn", 3, settings, reason="beats v2 on the fresh holdout")   # doctest: +SKIP
    >>> approve("churn", 3, settings)          # as another user, an approver     # doctest: +SKIP
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any, Mapping

from mlplatform.config import Settings
from mlplatform.errors import GovernanceError, LifecycleError, UnknownModelError
from mlplatform.governance.authors import registered_by
from mlplatform.governance.policy import load_policy, members
from mlplatform.governance.requests import Request, add_request, decide, load_requests
from mlplatform.identity import acting_for, current_actor
from mlplatform.lifecycle.models import AliasChange, champion_version, promote, version_numbers

__all__ = ["request_promotion", "approve", "reject", "requests", "promote_or_request"]

log = logging.getLogger(__name__)


def _check_version(name: str, version: int, settings: Settings) -> None:
    known = version_numbers(name, settings)
    if version not in known:
        raise UnknownModelError(
            f"model:{name}@{version} does not exist", f"versions of '{name}': {', '.join(map(str, known))}"
        )


def requests(settings: Settings, model: str | None = None) -> list[Request]:
    """Every promotion and break-glass request (of ``model``), oldest first."""
    return load_requests(settings, model)


def request_promotion(
    name: str,
    version: int,
    settings: Settings,
    reason: str,
    job_run: str | None = None,
    origin: str = "cli",
    details: Mapping[str, Any] | None = None,
) -> Request:
    """Ask for ``version`` to become champion; an open request for it is returned as it is (safe to re-run)."""
    _check_version(name, version, settings)
    if not reason.strip():
        raise GovernanceError(f"request to promote model:{name}@{version} has no reason", "say why with --reason TEXT")
    for earlier in load_requests(settings, name):
        if earlier.version == version and earlier.kind == "promotion" and earlier.status() == "pending":
            log.info("model:%s@%s already has pending request %s", name, version, earlier.request_id)
            return earlier
    ttl = load_policy().policy(name).request_ttl_hours
    return add_request(
        settings, name, version, reason, ttl, job_run=job_run, extra={"origin": origin, **dict(details or {})}
    )


def _open(name: str, version: int, settings: Settings, now: datetime | None) -> Request:
    """The newest request for ``model:name@version`` still waiting for a decision (pending or owed)."""
    mine = [r for r in load_requests(settings, name) if r.version == version]
    waiting = [r for r in mine if r.status(now) in ("pending", "owed")]
    if waiting:
        return waiting[-1]
    if mine:
        last = mine[-1]
        state = last.status(now)
        when = f" at {last.expires_at:%Y-%m-%d %H:%M} UTC" if state == "expired" and last.expires_at else ""
        raise GovernanceError(
            f"request {last.request_id} for model:{name}@{version} is {state}{when}; nothing waits for a decision",
            f"ask again: mlp models request-promotion {name} {version} --reason TEXT",
        )
    raise GovernanceError(
        f"model:{name}@{version} has no promotion request",
        f"ask for one first: mlp models request-promotion {name} {version} --reason TEXT",
    )


def _check_approver(name: str, version: int, request: Request, settings: Settings) -> str:
    actor = current_actor()
    listed = load_policy().policy(name).approvers
    if actor not in members(listed):
        raise GovernanceError(
            f"user '{actor}' is not an approver of model '{name}' and may not decide on model:{name}@{version}",
            f"approvers in conf/governance.yaml: {', '.join(listed) or 'none'}",
        )
    if actor == request.requester:
        raise GovernanceError(
            f"user '{actor}' asked for request {request.request_id} of model:{name}@{version} "
            "and may not also approve it",
            "another approver must decide",
        )
    author = registered_by(settings, name, version)
    if author is None:
        raise GovernanceError(
            f"model:{name}@{version}: no record says who registered it, so no approval can be shown independent",
            "register versions through the platform ('mlp train'), which records the author",
        )
    if actor == author:
        raise GovernanceError(
            f"user '{actor}' registered model:{name}@{version} and may not approve its promotion",
            "another approver must decide",
        )
    return actor


def _as(actor: str | None) -> AbstractContextManager[None]:
    """Act as ``actor`` (a user a front end authenticated), or as this process's user when None."""
    return acting_for(actor) if actor else nullcontext()


def approve(
    name: str,
    version: int,
    settings: Settings,
    note: str = "",
    now: datetime | None = None,
    actor: str | None = None,
) -> tuple[Request, AliasChange | None]:
    """Approve the open request for ``version``: make it champion (a break-glass one: close what is owed).

    ``actor``: the user the web catalog's HTTP login authenticated; None (the CLI) is the process's user.
    """
    with _as(actor):
        request = _open(name, version, settings, now)
        approver = _check_approver(name, version, request, settings)
        change = None
        if request.kind == "promotion":
            facts = {"request": request.request_id, "requested_by": request.requester, "approved_by": approver}
            change = promote(name, version, settings, reason=request.reason, approval=facts)
        return decide(settings, request, "approved", note), change


def reject(
    name: str, version: int, settings: Settings, note: str, now: datetime | None = None, actor: str | None = None
) -> Request:
    """Reject the open promotion request for ``version``; the champion stays (``actor`` as in :func:`approve`)."""
    with _as(actor):
        request = _open(name, version, settings, now)
        if request.kind != "promotion":
            raise LifecycleError(
                f"request {request.request_id} of model:{name}@{version} records a break-glass rollback already done",
                f"approve it after review, or roll back again: mlp models rollback {name}",
            )
        _check_approver(name, version, request, settings)
        return decide(settings, request, "rejected", note)


def promote_or_request(
    name: str, version: int, settings: Settings, reason: str, job_run: str, details: Mapping[str, Any]
) -> str:
    """The retrain loop's PROMOTE: promote (``approval: auto``) or leave a pending request; the verdict."""
    if load_policy().policy(name).approval == "auto":
        promote(name, version, settings, reason=reason, job_run=job_run, details=details)
        return "promoted"
    request = request_promotion(name, version, settings, reason, job_run, "retrain", details)
    log.info(
        "model:%s@%s: promotion requested (%s); champion stays version %s",
        name,
        version,
        request.request_id,
        champion_version(name, settings),
    )
    return "promotion requested"
