"""Retraining triggers: does production monitoring ask for a new model tonight?

For a model, its champion version and a run date ``D``, with the policy's ``triggers:``
(``conf/lifecycle.yaml``):

- **drift**: on the champion's latest batch run measured up to ``D``, PSI against the
  reference profile at or over ``drift.psi`` on at least ``drift.features`` features, or on
  the prediction or probability (``drift.outputs``);
- **performance**: on the champion's latest run date that labels judge, a realized metric on
  the wrong side of the version's recorded threshold (:mod:`mlplatform.lifecycle.realized`);
- **cooldown**: a trigger that led to a retrain is an audit event (``trigger``); for
  ``cooldown_days`` run dates after it, triggers are reported but do not fire.

Evaluating reads the monitoring tables only (deltalake, no Spark).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from mlplatform.config import Settings
from mlplatform.lifecycle.gates import TriggerPolicy
from mlplatform.lineage.audit import audit
from mlplatform.lineage.edges import record
from mlplatform.monitoring.performance import ALERT, read_performance
from mlplatform.monitoring.store import read_drift

__all__ = ["TRIGGER_ACTION", "TriggerCheck", "evaluate", "record_fired"]

log = logging.getLogger(__name__)

TRIGGER_ACTION = "trigger"


@dataclass(frozen=True)
class TriggerCheck:
    """What monitoring says of a champion on a run date."""

    model: str
    version: int
    run_date: str
    signals: tuple[str, ...]  # one line per trigger condition met
    cooldown: str | None = None  # why the signals do not fire, when in a cooldown

    @property
    def fired(self) -> bool:
        return bool(self.signals) and self.cooldown is None

    @property
    def reason(self) -> str:
        return "triggered: " + "; ".join(self.signals)

    def lines(self) -> list[str]:
        if not self.signals:
            return [f"no trigger for model:{self.model}@{self.version} up to {self.run_date}"]
        head = "trigger fired" if self.fired else f"trigger held by the cooldown ({self.cooldown})"
        return [f"{head} for model:{self.model}@{self.version}:", *(f"  {s}" for s in self.signals)]


def _drift_signal(settings: Settings, model: str, version: int, day: date, policy: TriggerPolicy) -> str | None:
    rule = policy.drift
    if rule is None:
        return None
    rows = read_drift(settings, model, version=version)
    rows = rows[rows["run_date"].astype(str) <= day.isoformat()]
    if rows.empty:
        return None
    latest = rows[rows["run_date"].astype(str) == rows["run_date"].astype(str).max()]
    drifted = latest[latest["psi"].fillna(0) >= rule.psi]
    features = drifted[drifted["role"] == "feature"]
    outputs = drifted[drifted["role"] != "feature"]
    if len(features) < rule.features and not (rule.outputs and len(outputs)):
        return None
    named = ", ".join(f"{r.feature} {r.psi:.3f}" for r in drifted.sort_values("psi", ascending=False).itertuples())
    return (
        f"drift on {latest['run_date'].iloc[0]}: PSI >= {rule.psi:g} on {len(features)} feature(s)"
        + (f" and {len(outputs)} output(s)" if len(outputs) else "")
        + f" ({named})"
    )


def _performance_signal(settings: Settings, model: str, version: int, day: date, policy: TriggerPolicy) -> str | None:
    if not policy.performance:
        return None
    rows = read_performance(settings, model, version=version)
    rows = rows[rows["run_date"].astype(str) <= day.isoformat()]
    if rows.empty:
        return None
    latest = rows[rows["run_date"] == rows["run_date"].max()]
    alerts = latest[latest["status"] == ALERT]
    if alerts.empty:
        return None
    named = ", ".join(f"{r.metric} = {r.value:.4f} (needs {r.threshold})" for r in alerts.itertuples())
    return (
        f"realized performance on {latest['run_date'].iloc[0]} ({int(latest['labelled_rows'].iloc[0])} labels): {named}"
    )


def _cooldown(settings: Settings, model: str, day: date, days: int) -> str | None:
    if days <= 0:
        return None
    start = (day - timedelta(days=days)).isoformat()
    earlier = [
        e.details.get("run_date")
        for e in audit(settings, model=model, action=TRIGGER_ACTION)
        if start < str(e.details.get("run_date")) < day.isoformat()
    ]
    if not earlier:
        return None
    last = max(earlier)
    until = date.fromisoformat(last) + timedelta(days=days)
    return f"a triggered retrain on {last}; triggers fire again from {until.isoformat()}"


def evaluate(settings: Settings, model: str, version: int, day: date, policy: TriggerPolicy) -> TriggerCheck:
    """The trigger conditions the champion ``version`` meets up to ``day``, and the cooldown."""
    signals = tuple(
        s
        for s in (
            _drift_signal(settings, model, version, day, policy),
            _performance_signal(settings, model, version, day, policy),
        )
        if s
    )
    cooldown = _cooldown(settings, model, day, policy.cooldown_days) if signals else None
    check = TriggerCheck(model, version, day.isoformat(), signals, cooldown)
    log.debug("%s", " ".join(line.strip() for line in check.lines()))
    return check


def record_fired(settings: Settings, check: TriggerCheck, job_run: str, subject: str) -> None:
    """The audit event a fired trigger leaves (the cooldown starts from it)."""
    details: dict[str, Any] = {
        "model": check.model,
        "version": check.version,
        "run_date": check.run_date,
        "reason": check.reason,
    }
    record(settings, [], action=TRIGGER_ACTION, job_run=job_run, subject=subject, details=details)
