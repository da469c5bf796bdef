"""Promotion gates: may a challenger replace the champion?

A challenger is promoted only when, on the same holdout as the champion, it passes
every threshold it was trained to (the ``mlp.metrics`` tag of its model version) and
beats the champion on the primary metric by at least the margin::

    higher-is-better metric:  challenger - champion >= margin
    lower-is-better metric:   champion - challenger >= margin

The margin is absolute, in the primary metric's units; it comes from
``conf/lifecycle.yaml`` (per model, else the default) unless given explicitly.

Example:
    >>> rules = Gates.from_definitions({"primary": "roc_auc", "higher_is_better": True,
    ...     "thresholds": [{"metric": "roc_auc", "op": ">=", "value": 0.7}]}, margin=0.01)
    >>> decide({"roc_auc": 0.80}, {"roc_auc": 0.82}, rules).promote
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import Field, ValidationError, field_validator

from mlplatform.config import conf_dir
from mlplatform.errors import LifecycleError
from mlplatform.features.definitions import parse_duration
from mlplatform.specfiles import StrictModel, problems, read_mapping
from mlplatform.training.spec import Threshold

__all__ = [
    "Check",
    "Decision",
    "Gates",
    "decide",
    "DriftTrigger",
    "TriggerPolicy",
    "ModelPolicy",
    "LifecycleConfig",
    "load_config",
]


class DriftTrigger(StrictModel):
    """Drift that retrains: PSI at or over ``psi`` on at least ``features`` features, or on an output."""

    psi: float = Field(0.25, gt=0, description="PSI against the reference profile that counts as drifted.")
    features: int = Field(2, ge=1, description="How many drifted features fire the trigger.")
    outputs: bool = Field(True, description="A drifted prediction or probability fires it on its own.")


class TriggerPolicy(StrictModel):
    """When production monitoring asks for a retrain (``triggers:`` of a policy)."""

    drift: DriftTrigger | None = Field(
        default_factory=DriftTrigger, description="Drift of the champion's latest measured run (null: off)."
    )
    performance: bool = Field(
        True, description="A realized metric of the champion under its recorded threshold fires the trigger."
    )
    cooldown_days: int = Field(
        7, ge=0, description="After a triggered retrain, triggers are ignored for this many run dates."
    )


class ModelPolicy(StrictModel):
    """Promotion policy of one model (``conf/lifecycle.yaml``)."""

    margin: float = Field(
        0.0, ge=0, description="How much the challenger must beat the champion on the primary metric (absolute)."
    )
    holdout_days: int = Field(
        30, ge=1, description="The benchmark holdout: labels of the last N days up to the run date."
    )
    min_holdout_rows: int = Field(50, ge=1, description="Fewer fresh labelled rows than this means 'no new data'.")
    retrain_on: Literal["labels", "triggers"] = Field(
        "labels",
        description="labels: whenever fresh labels exist (a fired trigger is recorded as a reason); "
        "triggers: only when a trigger fires.",
    )
    triggers: TriggerPolicy = Field(default_factory=TriggerPolicy, description="What monitoring result retrains.")
    label_window: str = Field(
        "1d", description="Realized performance: a label judges the latest score at most this long before it."
    )

    @field_validator("label_window")
    @classmethod
    def _duration(cls, value: str) -> str:
        if parse_duration(value) is None:
            raise ValueError(f"label_window '{value}' must be a duration such as 1d or 12h")
        return value

    @property
    def label_window_delta(self) -> timedelta:
        return parse_duration(self.label_window)  # type: ignore[return-value]


class LifecycleConfig(StrictModel):
    """``conf/lifecycle.yaml``: a default policy and per-model overrides."""

    default: ModelPolicy = Field(default_factory=ModelPolicy, description="Policy of models not listed under 'models'.")
    models: dict[str, ModelPolicy] = Field(default_factory=dict, description="Model name -> policy.")
    nightly: list[str] = Field(
        default_factory=list,
        description="Models scripts/nightly-retrain retrains (default: every spec in conf/models/).",
    )

    def policy(self, model: str) -> ModelPolicy:
        return self.models.get(model, self.default)


def load_config(path: str | Path | None = None) -> LifecycleConfig:
    """Read ``conf/lifecycle.yaml`` (defaults when the file does not exist)."""
    file = Path(path) if path else conf_dir() / "lifecycle.yaml"
    if not file.is_file():
        if path:
            raise LifecycleError(f"lifecycle config {file} does not exist", "pass an existing file or drop the option")
        return LifecycleConfig()
    data = read_mapping(file, LifecycleError, "lifecycle config")
    try:
        return LifecycleConfig(**data)
    except ValidationError as exc:
        raise LifecycleError(
            f"lifecycle config {file}: {problems(exc)}",
            "known keys: default, nightly, models.<name>: margin, holdout_days, min_holdout_rows, retrain_on, "
            "triggers (drift: psi, features, outputs; performance; cooldown_days), label_window",
        ) from exc


@dataclass(frozen=True)
class Check:
    """One gate: what was compared, the values, and whether it passed."""

    name: str
    passed: bool
    detail: str
    actual: float | None = None
    required: float | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome of the gates, with one line of evidence per check."""

    promote: bool
    checks: tuple[Check, ...]
    primary: str
    margin: float
    higher_is_better: bool = True

    @property
    def reasons(self) -> list[str]:
        """Why: the failed checks when kept, every check when promoted."""
        failed = [c.detail for c in self.checks if not c.passed]
        return failed if failed else [c.detail for c in self.checks]

    def summary(self) -> str:
        verdict = "promote the challenger" if self.promote else "keep the champion"
        return f"{verdict}: " + "; ".join(self.reasons)


@dataclass(frozen=True)
class Gates:
    """The bar: thresholds, the primary metric and its direction, the margin."""

    primary: str
    higher_is_better: bool = True
    thresholds: tuple[Threshold, ...] = ()
    margin: float = 0.0
    metrics: tuple[str, ...] = field(default=())

    @classmethod
    def from_definitions(
        cls, definitions: Mapping[str, Any] | None, margin: float, primary: str | None = None
    ) -> "Gates":
        """From a model version's ``mlp.metrics`` tag (``training.spec.ModelSpec.metric_definitions``)."""
        data = dict(definitions or {})
        primary = primary or data.get("primary")
        if not primary:
            raise LifecycleError(
                "the challenger records no primary metric (tags mlp.metrics / mlp.primary_metric)",
                "register models through 'mlp train', which records them",
            )
        thresholds = []
        for item in data.get("thresholds") or []:
            if isinstance(item, Mapping):
                thresholds.append(Threshold(str(item["metric"]), str(item["op"]), float(item["value"])))
            else:
                metric, op, value = str(item).split()
                thresholds.append(Threshold(metric, op, float(value)))
        names = [primary, *(t.metric for t in thresholds), *(data.get("definitions") or {})]
        return cls(
            primary,
            bool(data.get("higher_is_better", True)),
            tuple(thresholds),
            float(margin),
            tuple(dict.fromkeys(names)),
        )


def _value(metrics: Mapping[str, float], name: str) -> float:
    value = metrics.get(name)
    return float("nan") if value is None else float(value)


def decide(champion: Mapping[str, float], challenger: Mapping[str, float], gates: Gates) -> Decision:
    """Apply ``gates`` to both models' metrics measured on the same holdout."""
    checks = []
    for threshold in gates.thresholds:
        actual = _value(challenger, threshold.metric)
        ok = threshold.passes(actual)
        miss = "" if ok else f", misses by {threshold.miss(actual):.4f}" if not math.isnan(actual) else ", not measured"
        checks.append(
            Check(
                f"threshold {threshold}",
                ok,
                f"challenger {threshold.metric} = {actual:.4f} (needs {threshold}{miss})",
                actual,
                threshold.value,
            )
        )
    new, old = _value(challenger, gates.primary), _value(champion, gates.primary)
    gain = (new - old) if gates.higher_is_better else (old - new)
    ok = not math.isnan(gain) and gain >= gates.margin - 1e-12
    direction = "higher" if gates.higher_is_better else "lower"
    if ok:
        detail = (
            f"challenger {gates.primary} = {new:.4f} beats champion {old:.4f} by {gain:+.4f} "
            f"(margin {gates.margin:g}, {direction} is better)"
        )
    else:
        detail = (
            f"challenger {gates.primary} = {new:.4f} vs champion {old:.4f}: "
            f"gain {gain:+.4f} is below the margin {gates.margin:g} ({direction} is better)"
        )
    checks.append(Check(f"{gates.primary} margin", ok, detail, gain, gates.margin))
    return Decision(all(c.passed for c in checks), tuple(checks), gates.primary, gates.margin, gates.higher_is_better)
