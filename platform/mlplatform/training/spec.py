"""Model specs: ``conf/models/<name>.yaml``, validated before any Spark job runs.

Example::

    training_set: {name: churn}            # version: latest unless given
    label: churned
    exclude: [customer_id, event_time]     # or features: [...]
    estimator: sklearn.ensemble.RandomForestClassifier
    params: {random_state: 0}
    search:
      strategy: tpe                        # grid | random | tpe
      trials: 16
      parallelism: 4                       # trials per Spark job (tpe)
      space:
        n_estimators: {type: int, low: 50, high: 300, step: 50}
        max_depth: [4, 8, null]            # a list is a choice
    cv: {folds: 3, stratified: true, seed: 0}
    holdout: {fraction: 0.2, seed: 0}
    metrics:
      primary: roc_auc
      thresholds: ["roc_auc >= 0.75", "recall >= 0.6"]
    decision: {objective: f1}              # the default; or balanced_accuracy, cost: {fp: 1, fn: 5}, fixed: 0.3
    calibration: isotonic                  # optional: isotonic | sigmoid | {method: sigmoid, folds: 5}
    env: churn                             # env name or id env:<name>@<hash12>

``decision`` sets the decision threshold of a binary classifier: ``predict`` returns the
positive class when ``predict_proba[:, 1]`` (``decision_function`` for estimators without
probabilities) is at least the threshold. An objective tunes it on the CV folds of the best
trial as scikit-learn's ``TunedThresholdClassifierCV`` does; ``fixed`` takes it as given;
``decision: null`` keeps the estimator's own ``predict`` (0.5 on probabilities).
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mlplatform.config import conf_dir
from mlplatform.errors import TrainingError
from mlplatform.specfiles import StrictModel, problems, read_mapping
from mlplatform.training.executor import METRICS

__all__ = [
    "ModelSpec",
    "TrainingSetRef",
    "SearchSpec",
    "CVSpec",
    "HoldoutSpec",
    "MetricsSpec",
    "DecisionSpec",
    "CostSpec",
    "Range",
    "Threshold",
    "load_spec",
    "spec_path",
    "spec_names",
]

Scalar = Union[None, bool, int, float, str]
_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_THRESHOLD = re.compile(r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>>=|<=|>|<)\s*(?P<value>[-+0-9.eE]+)\s*$")


class TrainingSetRef(StrictModel):
    """Which training set to train on."""

    name: str = Field(description="Training set name (Delta table <warehouse>/training_sets/<name>).")
    version: int | None = Field(None, description="Delta version of the training set; latest when omitted.")


class Range(StrictModel):
    """A numeric range for random and TPE search."""

    type: Literal["int", "float"] = Field(description="int or float.")
    low: float = Field(description="Lower bound (inclusive).")
    high: float = Field(description="Upper bound (inclusive).")
    log: bool = Field(False, description="Sample on a log scale.")
    step: float | None = Field(None, description="Grid step (int ranges: default 1).")

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        if self.log and self.step not in (None, 1):
            raise ValueError("a log range cannot have a step")
        return self


class SearchSpec(StrictModel):
    """How to search: strategy, space, trial budget and trials per Spark job."""

    strategy: Literal["grid", "random", "tpe"] = Field("tpe", description="grid, random or tpe (optuna).")
    space: dict[str, Union[list[Scalar], Range]] = Field(description="Parameter name -> list of values or a range.")
    trials: int = Field(16, ge=1, description="Trials for random/tpe (grid runs every combination).")
    parallelism: int = Field(
        4, ge=1, description="Trials per Spark job for tpe; grid and random send all trials in one job."
    )
    seed: int = Field(0, description="Sampler seed.")
    fits_per_task: int | None = Field(
        None,
        ge=1,
        description="(trial, fold) fits per Spark task. Default: shrinking groups, each task 1/(2 x slots) of"
        " the fits left (one fit each when dynamic allocation sets no maxExecutors); 1 gives every fit its own task.",
    )

    @field_validator("space")
    @classmethod
    def _not_empty(cls, space: dict[str, Any]) -> dict[str, Any]:
        if not space:
            raise ValueError("the search space is empty; give at least one parameter with values or a range")
        for name, values in space.items():
            if isinstance(values, list) and not values:
                raise ValueError(f"parameter '{name}' has an empty list of values")
        return space


class CVSpec(StrictModel):
    """Cross-validation folds."""

    folds: int = Field(3, ge=2, description="Number of folds.")
    stratified: bool = Field(True, description="Keep the label ratio in every fold.")
    shuffle: bool = Field(True, description="Shuffle rows before splitting.")
    seed: int = Field(0, description="Seed of the shuffle.")


class HoldoutSpec(StrictModel):
    """The held-out split the refit model is evaluated (and held to its thresholds) on."""

    fraction: float = Field(0.2, gt=0, lt=1, description="Share of rows held out.")
    seed: int = Field(0, description="Seed of the split (stratified by label).")


@dataclass(frozen=True)
class Threshold:
    """``metric op value``, e.g. ``roc_auc >= 0.75``, checked on the held-out evaluation."""

    metric: str
    op: str
    value: float

    def passes(self, actual: float) -> bool:
        return bool(_OPS[self.op](actual, self.value))

    def miss(self, actual: float) -> float:
        """How far ``actual`` is on the wrong side of the bar (0 when it passes)."""
        return 0.0 if self.passes(actual) else abs(actual - self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "op": self.op, "value": self.value}


class MetricsSpec(StrictModel):
    """The primary metric (ranks trials) and the bars a model must clear to be registered."""

    primary: str = Field("roc_auc", description="Metric that ranks trials.")
    thresholds: list[str] = Field(default_factory=list, description="Bars such as 'roc_auc >= 0.75'.")
    extra: list[str] = Field(default_factory=list, description="More metrics to compute and log.")

    @model_validator(mode="after")
    def _known(self) -> "MetricsSpec":
        known = ", ".join(METRICS)
        for name in [self.primary, *self.extra, *(t.metric for t in self.parsed_thresholds())]:
            if name not in METRICS:
                raise ValueError(f"unknown metric '{name}'; known metrics: {known}")
        return self

    def parsed_thresholds(self) -> list[Threshold]:
        out = []
        for text in self.thresholds:
            match = _THRESHOLD.match(text)
            if not match:
                raise ValueError(f"threshold '{text}' is not 'METRIC OP NUMBER' (OP one of >=, >, <=, <)")
            out.append(Threshold(match["metric"], match["op"], float(match["value"])))
        return out

    def names(self) -> list[str]:
        """Every metric to compute, primary first."""
        ordered = [self.primary, *(t.metric for t in self.parsed_thresholds()), *self.extra]
        ordered += ["roc_auc", "average_precision", "brier", "log_loss", "accuracy", "precision", "recall", "f1"]
        return list(dict.fromkeys(ordered))

    def higher_is_better(self) -> bool:
        return METRICS[self.primary][0]


class CostSpec(StrictModel):
    """What one wrong decision costs: a false positive and a false negative."""

    fp: float = Field(gt=0, description="Cost of a false positive (a negative predicted positive).")
    fn: float = Field(gt=0, description="Cost of a false negative (a positive predicted negative).")


DECISION_OBJECTIVES = ("f1", "balanced_accuracy", "cost")


class DecisionSpec(StrictModel):
    """How a binary classifier's decision threshold is chosen.

    Exactly one of: ``objective`` (``f1``, the default, or ``balanced_accuracy``), ``cost``
    (tune for the least ``fp * FP + fn * FN`` per fold) or ``fixed`` (a probability in (0, 1)).
    """

    objective: Literal["f1", "balanced_accuracy", "cost"] | None = Field(
        None, description="Objective maximized over the CV folds: f1 (default), balanced_accuracy or cost."
    )
    cost: CostSpec | None = Field(None, description="Costs of a false positive and a false negative (objective cost).")
    fixed: float | None = Field(None, gt=0, lt=1, description="A threshold on predict_proba[:, 1], used as is.")
    candidates: int = Field(
        100, ge=2, description="Thresholds tried, evenly spaced over the scores (TunedThresholdClassifierCV default)."
    )

    @model_validator(mode="after")
    def _one_rule(self) -> "DecisionSpec":
        if self.fixed is not None and (self.objective is not None or self.cost is not None):
            raise ValueError("give either fixed (a threshold used as is) or an objective/cost to tune for, not both")
        if self.objective == "cost" and self.cost is None:
            raise ValueError("objective cost needs the costs, e.g. cost: {fp: 1, fn: 5}")
        if self.cost is not None and self.objective not in (None, "cost"):
            raise ValueError(f"cost is given but the objective is {self.objective}; drop one of them")
        return self

    @property
    def rule(self) -> str:
        """``fixed``, or the objective tuned for (``f1`` when none is given)."""
        if self.fixed is not None:
            return "fixed"
        if self.cost is not None:
            return "cost"
        return self.objective or "f1"

    def describe(self) -> str:
        """One phrase, e.g. ``f1 on the CV folds`` or ``fixed 0.3``."""
        if self.fixed is not None:
            return f"fixed {self.fixed:g}"
        if self.cost is not None:
            return f"least cost (fp {self.cost.fp:g}, fn {self.cost.fn:g}) on the CV folds"
        return f"{self.rule} on the CV folds"

    def payload(self) -> dict[str, Any] | None:
        """What the CV tasks need to score every candidate threshold (None: nothing to tune)."""
        if self.fixed is not None:
            return None
        out: dict[str, Any] = {"objective": self.rule, "candidates": self.candidates}
        if self.cost is not None:
            out.update(fp=self.cost.fp, fn=self.cost.fn)
        return out


class CalibrationSpec(StrictModel):
    """Probability calibration of a binary classifier (scikit-learn's ``CalibratedClassifierCV``).

    Every trial and the refit fit ``CalibratedClassifierCV(estimator, method, cv=folds)``, so the CV
    scores, the decision threshold and the registered model all see calibrated probabilities.
    """

    method: Literal["isotonic", "sigmoid"] = Field(description="isotonic (non-parametric) or sigmoid (Platt).")
    folds: int = Field(3, ge=2, description="Internal folds: each fits the estimator and its calibrator.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"method": value} if isinstance(value, str) else value

    def payload(self) -> dict[str, Any]:
        return {"method": self.method, "folds": self.folds}


class ModelSpec(StrictModel):
    """A model: its data, estimator, search, validation, bars and environment."""

    name: str = Field(description="Registered model name (defaults to the file name).")
    description: str = Field("", description="Free text shown in MLflow.")
    training_set: TrainingSetRef
    label: str = Field(description="Label column (binary).")
    features: list[str] | None = Field(None, description="Feature columns; default all but label and exclude.")
    exclude: list[str] = Field(default_factory=list, description="Columns never used as features (keys, times).")
    estimator: str = Field(description="Dotted path to an estimator class or a no-argument factory (module:function).")
    params: dict[str, Any] = Field(default_factory=dict, description="Fixed estimator parameters.")
    search: SearchSpec
    cv: CVSpec = Field(default_factory=CVSpec)
    holdout: HoldoutSpec = Field(default_factory=HoldoutSpec)
    metrics: MetricsSpec = Field(default_factory=MetricsSpec)
    decision: DecisionSpec | None = Field(
        default_factory=DecisionSpec,
        description="Decision threshold of a binary classifier (default: tuned for f1 on the CV folds); "
        "null keeps the estimator's own predict.",
    )
    calibration: CalibrationSpec | None = Field(
        None, description="Calibrate probabilities (isotonic or sigmoid, in every trial and the refit); default none."
    )
    env: str | None = Field(None, description="Environment name or id; None runs trials in the driver's Python.")

    @property
    def decision_given(self) -> bool:
        """Whether the spec names a decision block (the default applies silently to classifiers only)."""
        return "decision" in self.model_fields_set and self.decision is not None

    def digest(self) -> str:
        """sha256 (first 12 hex digits) of the normalized spec: recorded as the spec hash."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def metric_definitions(self) -> dict[str, Any]:
        """What the model is held to, recorded with every version (TAG_METRICS)."""
        return {
            "primary": self.metrics.primary,
            "higher_is_better": self.metrics.higher_is_better(),
            "thresholds": [t.as_dict() for t in self.metrics.parsed_thresholds()],
            "evaluated_on": f"held-out split, fraction {self.holdout.fraction:g}, seed {self.holdout.seed}",
            "definitions": {name: METRICS[name][2] for name in self.metrics.names()},
        }


def spec_names() -> list[str]:
    """Model specs available in ``conf/models/``."""
    return sorted(p.stem for p in (conf_dir() / "models").glob("*.yaml"))


def spec_path(name_or_path: str) -> Path:
    """``conf/models/<name>.yaml`` or an explicit YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate
    path = conf_dir() / "models" / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(spec_names()) or "none"
        raise TrainingError(f"model spec '{name_or_path}' not found at {path}", f"known model specs: {known}")
    return path


def _describe(exc: ValidationError, source: str) -> TrainingError:
    return TrainingError(
        f"model spec {source}: {problems(exc)}", "fix the spec (see conf/models/churn.yaml for an example)"
    )


def load_spec(name_or_path: str | None = None, data: dict[str, Any] | None = None) -> ModelSpec:
    """Read and validate a model spec from ``conf/models/<name>.yaml``, a file, or a dict.

    Raises:
        TrainingError: naming the spec and every key that is unknown or wrong.
    """
    if data is None:
        if name_or_path is None:
            raise TrainingError("no model spec given", "pass a model name or a spec file")
        path = spec_path(name_or_path)
        source = str(path)
        data = {"name": path.stem, **read_mapping(path, TrainingError, "model spec")}
    else:
        source = f"'{data.get('name', '?')}'"
    try:
        return ModelSpec(**data)
    except ValidationError as exc:
        raise _describe(exc, source) from exc
