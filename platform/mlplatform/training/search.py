"""Search strategies: which parameter sets to try next.

Every strategy hands out batches of trials (``ask``) and learns their results
(``tell``). ``grid`` and ``random`` do not learn, so all their trials form one
batch (one Spark job); ``tpe`` uses optuna's ask/tell in batches of the spec's
``parallelism``, so each batch is sampled from what earlier batches found.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from mlplatform.errors import TrainingError
from mlplatform.training.spec import Range, SearchSpec

__all__ = ["Trial", "Strategy", "make_strategy", "grid_points"]

log = logging.getLogger(__name__)


@dataclass
class Trial:
    """One parameter set; ``number`` is its id within the search."""

    number: int
    params: dict[str, Any]
    handle: Any = field(default=None, repr=False)


class Strategy:
    """Base: hands out trials in batches and learns their scores."""

    def __init__(self, spec: SearchSpec, maximize: bool) -> None:
        self.spec = spec
        self.maximize = maximize
        self.asked = 0

    @property
    def total(self) -> int:
        """How many trials the search runs."""
        return self.spec.trials

    def done(self) -> bool:
        return self.asked >= self.total

    def ask(self) -> list[Trial]:
        """The next batch of trials (empty when the search is over)."""
        raise NotImplementedError

    def tell(self, trial: Trial, value: float | None) -> None:
        """The trial's mean CV score (None when it failed)."""


def grid_points(space: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination, in scikit-learn ``ParameterGrid`` order (so ties break as in GridSearchCV)."""
    from sklearn.model_selection import ParameterGrid

    lists: dict[str, list[Any]] = {}
    for name, values in space.items():
        if isinstance(values, Range):
            if values.type != "int":
                raise TrainingError(
                    f"grid search parameter '{name}' is a float range",
                    "give a list of values, or use strategy random or tpe",
                )
            step = int(values.step or 1)
            values = list(range(int(values.low), int(values.high) + 1, step))
        lists[name] = list(values)
    return list(ParameterGrid(lists))


class GridStrategy(Strategy):
    def __init__(self, spec: SearchSpec, maximize: bool) -> None:
        super().__init__(spec, maximize)
        self.points = grid_points(spec.space)

    @property
    def total(self) -> int:
        return len(self.points)

    def ask(self) -> list[Trial]:
        if self.done():
            return []
        batch = [Trial(i, dict(p)) for i, p in enumerate(self.points)]
        self.asked = len(batch)
        return batch


def _distributions(space: dict[str, Any]) -> dict[str, Any]:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for name, values in space.items():
        if isinstance(values, Range):
            if values.type == "int":
                out[name] = IntDistribution(
                    int(values.low), int(values.high), log=values.log, step=int(values.step or 1)
                )
            else:
                out[name] = FloatDistribution(values.low, values.high, log=values.log, step=values.step)
        else:
            out[name] = CategoricalDistribution(list(values))
    return out


class OptunaStrategy(Strategy):
    """Random (optuna RandomSampler) or TPE (TPESampler) through optuna's ask/tell."""

    def __init__(self, spec: SearchSpec, maximize: bool) -> None:
        import optuna

        super().__init__(spec, maximize)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if spec.strategy == "tpe":
            sampler = optuna.samplers.TPESampler(seed=spec.seed, n_startup_trials=min(10, max(spec.parallelism, 1)))
            self.batch = spec.parallelism
        else:
            sampler = optuna.samplers.RandomSampler(seed=spec.seed)
            self.batch = spec.trials
        self.study = optuna.create_study(direction="maximize" if maximize else "minimize", sampler=sampler)
        self.distributions = _distributions(spec.space)

    def ask(self) -> list[Trial]:
        size = min(self.batch, self.total - self.asked)
        batch = []
        for _ in range(max(size, 0)):
            handle = self.study.ask(self.distributions)
            batch.append(Trial(handle.number, dict(handle.params), handle))
        self.asked += len(batch)
        return batch

    def tell(self, trial: Trial, value: float | None) -> None:
        import optuna

        if value is None or math.isnan(value):
            self.study.tell(trial.handle, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial.handle, value)


def make_strategy(spec: SearchSpec, maximize: bool) -> Strategy:
    """The strategy named by ``spec.strategy``."""
    if spec.strategy == "grid":
        return GridStrategy(spec, maximize)
    return OptunaStrategy(spec, maximize)
