"""The catalog's actions: approve or reject a promotion request as the HTTP-authenticated user.

The decision goes through :mod:`mlplatform.lifecycle.approvals`, the code behind
``mlp models approve``/``reject``, with ``actor`` the user the HTTP login named: the same
two-person rule, the same one-line refusals, the same audit rows.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from mlplatform.catalog.paging import BadQuery, positive_int
from mlplatform.config import Settings
from mlplatform.errors import NoChampionError, UnknownModelError
from mlplatform.governance.requests import Request
from mlplatform.lifecycle.approvals import approve, reject, requests
from mlplatform.lifecycle.models import champion_version, version_numbers

__all__ = ["DECISIONS", "waiting", "decide"]

log = logging.getLogger(__name__)

DECISIONS = ("approve", "reject")


def waiting(settings: Settings, model: str | None = None) -> list[Request]:
    """Requests (of ``model``) that wait for a decision: pending promotions and owed break-glass approvals."""
    return [r for r in requests(settings, model) if r.status() in ("pending", "owed")]


def _champion(model: str, settings: Settings) -> int | None:
    try:
        return champion_version(model, settings)
    except NoChampionError:
        return None


def decide(settings: Settings, model: str, decision: str, form: Mapping[str, str], user: str) -> dict[str, Any]:
    """Do ``decision`` on the open request for ``form['version']`` of ``model`` as ``user``: the outcome page's data.

    Raises:
        BadQuery: no version, an unknown decision, or a rejection without a reason.
        UnknownModelError: no such model or version.
        GovernanceError, LifecycleError: the policy refused (its message is the page).
    """
    if decision not in DECISIONS:
        raise BadQuery(f"'{decision}' is not a decision: approve or reject")
    version = positive_int(form, "version")
    if version is None:
        raise BadQuery(f"which version of {model}? the form sends version=N")
    known = version_numbers(model, settings)
    if version not in known:
        raise UnknownModelError(f"model:{model}@{version} does not exist", f"versions: {', '.join(map(str, known))}")
    note = form.get("note", "").strip()
    before = _champion(model, settings)
    if decision == "reject":
        if not note:
            raise BadQuery(f"a rejection of model:{model}@{version} needs a reason: fill in the note")
        decided = reject(model, version, settings, note, actor=user)
        said = f"request {decided.request_id} for {decided.subject} rejected by {decided.decided_by}"
        lines = [said, f"the champion stays version {before}" if before is not None else "there is still no champion"]
    else:
        decided, change = approve(model, version, settings, note=note, actor=user)
        said = f"request {decided.request_id} for {decided.subject} approved by {decided.decided_by}"
        lines = [said, change.describe() if change else f"break-glass rollback to {decided.subject} is now approved"]
    log.info("catalog: %s", "; ".join(lines))
    return {"model": model, "request": decided, "lines": lines, "champion": _champion(model, settings)}
