"""Run a search on Spark: each batch of (trial, fold) fits is one Spark job.

The training data is broadcast once (an Arrow IPC buffer). A batch's fits are
parallelized in consecutive groups, one Spark task per group, sized by guided
self-scheduling (:func:`task_sizes`): each task takes 1/:data:`SHARE` of a slot's share
of the fits not yet handed out, so the first tasks are large (most fits skip a task's
launch, ~20-90 ms each on a local JVM) and the last ones single fits (the slots finish
together). When dynamic allocation sets no ``maxExecutors``, every fit is its own
task, so the cluster sees as many pending tasks as there is work and scales out.
Results come back with ``collect()`` and are recorded by the driver keyed by
(trial, fold): a task Spark re-runs after losing an executor is still counted once.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from mlplatform.errors import TrainingError, error_line
from mlplatform.launch.slots import task_slots
from mlplatform.training.executor import encode_frame, run_partition, tuned_threshold
from mlplatform.training.prepare import Prepared
from mlplatform.training.search import Trial, make_strategy
from mlplatform.training.spec import ModelSpec

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "TrialResult",
    "SearchResult",
    "Decision",
    "choose_threshold",
    "run_search",
    "run_refit",
    "task_sizes",
    "REPORTED_PACKAGES",
    "SHARE",
]

log = logging.getLogger(__name__)

REPORTED_PACKAGES = ("scikit-learn", "numpy", "pandas", "pyarrow", "scipy", "cloudpickle")
SHARE = 2  # a Spark task takes 1/(SHARE x slots) of the fits not yet handed out


def task_sizes(fits: int, slots: int | None, given: int | None = None) -> list[int]:
    """How many consecutive (trial, fold) fits each Spark task runs, in launch order.

    ``given`` fits each (the last task the rest); one each when the slots are unbounded
    (None: dynamic allocation without maxExecutors); otherwise guided self-scheduling:
    each task takes 1/(SHARE x slots) of the fits left, at least one.
    """
    if given is not None:
        return [given] * (fits // given) + ([fits % given] if fits % given else [])
    if slots is None:
        return [1] * fits
    sizes: list[int] = []
    left = fits
    while left:
        sizes.append(max(left // (SHARE * slots), 1))
        left -= sizes[-1]
    return sizes


@dataclass
class TrialResult:
    """A trial's outcome across its folds."""

    number: int
    params: dict[str, Any]
    batch: int
    fold_metrics: dict[str, list[float]] = field(default_factory=dict)
    fit_times: list[float] = field(default_factory=list)
    score_times: list[float] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    error: str | None = None
    curves: dict[int, dict[str, list[float]]] = field(default_factory=dict)  # fold -> decision curve

    def mean(self, metric: str) -> float:
        import numpy as np

        values = self.fold_metrics.get(metric)
        return float(np.mean(values)) if values and self.error is None else float("nan")

    def std(self, metric: str) -> float:
        import numpy as np

        values = self.fold_metrics.get(metric)
        return float(np.std(values)) if values and self.error is None else float("nan")

    @property
    def fit_time(self) -> float:
        return float(sum(self.fit_times))


@dataclass(frozen=True)
class Decision:
    """The decision threshold the model version predicts with, and how it was chosen."""

    rule: str  # f1 | balanced_accuracy | cost | fixed
    threshold: float
    cv_score: float | None = None  # mean objective over the folds at the threshold (cost: the mean cost)
    candidates: int | None = None
    costs: dict[str, float] | None = None
    curve: dict[str, list[float]] | None = None  # mean objective at every candidate threshold

    def as_tag(self) -> dict[str, Any]:
        """What the model version records (without the curve)."""
        out: dict[str, Any] = {"rule": self.rule, "threshold": self.threshold}
        if self.rule != "fixed":
            out.update(cv_score=self.cv_score, candidates=self.candidates, chosen_on="CV folds of the best trial")
        if self.costs:
            out["costs"] = self.costs
        return out

    def __str__(self) -> str:
        if self.rule == "fixed":
            return f"threshold {self.threshold:.4f} (fixed)"
        name = "mean cost" if self.rule == "cost" else f"mean {self.rule}"
        return f"threshold {self.threshold:.4f} ({name} {self.cv_score:.4f} on the CV folds)"


@dataclass
class SearchResult:
    """Every trial once, the best one, and how the Spark jobs went."""

    trials: list[TrialResult]
    best: TrialResult
    primary: str
    wall_time: float
    batches: list[int]
    environment: dict[str, Any]
    retried_tasks: int

    @property
    def fit_time(self) -> float:
        return sum(t.fit_time for t in self.trials)


class _Broadcaster:
    """The payload broadcast to executors, created once per search."""

    def __init__(self, spark: "SparkSession", spec: ModelSpec, prepared: Prepared) -> None:
        payload = {
            "data": encode_frame(prepared.frame),
            # Workers cache the decoded data under this key: unique per broadcast, whereas the id() of the
            # unpickled bytes can repeat across searches in one session and hand a worker the previous data.
            "data_id": uuid.uuid4().hex,
            "estimator": spec.estimator,
            "fixed_params": dict(spec.params),
            "features": list(prepared.features),
            "label": prepared.label,
            "metrics": spec.metrics.names(),
            "decision": spec.decision.payload() if spec.decision is not None else None,
            "calibration": spec.calibration.payload() if spec.calibration is not None else None,
            "packages": list(REPORTED_PACKAGES),
            "task_cpus": int(spark.conf.get("spark.task.cpus", "1") or 1),
        }
        self.size = len(payload["data"])
        self.sc = spark.sparkContext
        self.broadcast = self.sc.broadcast(payload)
        log.info("model %s: broadcast %.1f MB of training data once", spec.name, self.size / 1e6)

    def run(
        self, tasks: list[dict[str, Any]], description: str, sizes: list[int] | None = None
    ) -> list[dict[str, Any]]:
        """One Spark job, Spark task i running the next ``sizes[i]`` tasks (default one each); their results."""
        self.sc.setJobDescription(description)
        bounds = [0, *itertools.accumulate(sizes or [1] * len(tasks))]
        groups = [tasks[start:end] for start, end in itertools.pairwise(bounds)]
        try:
            # one group per partition: parallelize splits a list of n elements into n slices of one
            rdd = self.sc.parallelize(groups, len(groups)).flatMap(lambda group: group)
            return rdd.mapPartitions(functools.partial(run_partition, self.broadcast)).collect()
        except Exception as exc:
            raise TrainingError(
                f"{description} failed on Spark: {error_line(exc, 'Error|Exception', last=True, limit=500)}",
                "see the Spark log above; executors may lack the model's environment",
            ) from exc
        finally:
            self.sc.setJobDescription(None)

    def close(self) -> None:
        self.broadcast.unpersist()


def _record(trials: dict[int, TrialResult], results: list[dict[str, Any]], folds: int) -> int:
    """Fold results into trials exactly once per (trial, fold); returns how many tasks were retried."""
    seen: set[tuple[int, int]] = set()
    retried = 0
    for result in results:
        key = (result["trial"], result["fold"])
        if key in seen:
            log.warning("dropping a duplicate result for trial %d fold %d", *key)
            continue
        seen.add(key)
        trial = trials[result["trial"]]
        trial.attempts.append(int(result.get("attempt", 0)))
        retried += int(result.get("attempt", 0) > 0)
        if result["error"]:
            trial.error = trial.error or f"fold {result['fold']}: {result['error']}"
            continue
        if result.get("decision_curve") is not None:
            trial.curves[int(result["fold"])] = result["decision_curve"]
        trial.fit_times.append(float(result["fit_time"]))
        trial.score_times.append(float(result["score_time"]))
        for name, value in result["metrics"].items():
            trial.fold_metrics.setdefault(name, []).append(float(value))
    for number, trial in trials.items():
        missing = [f for f in range(folds) if (number, f) not in seen]
        if missing:
            raise TrainingError(
                f"trial {number} has no result for fold(s) {missing}",
                "the Spark job returned too few results; re-run the search",
            )
    return retried


def _better(candidate: float, best: float, maximize: bool) -> bool:
    if math.isnan(candidate):
        return False
    if math.isnan(best):
        return True
    return candidate > best if maximize else candidate < best


def run_search(
    spark: "SparkSession",
    spec: ModelSpec,
    prepared: Prepared,
    on_batch: Callable[[list[TrialResult]], Any] | None = None,
) -> tuple[SearchResult, "_Broadcaster"]:
    """Evaluate every trial of the spec's search; the broadcaster is reused for the refit.

    ``on_batch`` gets each batch's trials once their results are collected (the
    driver records them there, e.g. as MLflow child runs).

    Raises:
        TrainingError: when every trial failed (the first error is shown).
    """
    maximize = spec.metrics.higher_is_better()
    strategy = make_strategy(spec.search, maximize)
    primary = spec.metrics.primary
    folds = spec.cv.folds
    broadcaster = _Broadcaster(spark, spec, prepared)
    slots = task_slots(dict(spark.sparkContext.getConf().getAll()))
    results: list[TrialResult] = []
    batches: list[int] = []
    environment: dict[str, Any] = {}
    retried = 0
    started = time.perf_counter()
    try:
        while not strategy.done():
            batch: list[Trial] = strategy.ask()
            if not batch:
                break
            number = len(batches) + 1
            tasks = [
                {"kind": "cv", "trial": t.number, "fold": f, "params": t.params} for t in batch for f in range(folds)
            ]
            sizes = task_sizes(len(tasks), slots, spec.search.fits_per_task)
            description = (
                f"mlp train {spec.name}: batch {number} ({len(batch)} trials x {folds} folds = {len(tasks)} fits"
                f" in {len(sizes)} Spark tasks)"
            )
            log.info("%s", description)
            raw = broadcaster.run(tasks, description, sizes)
            environment = environment or raw[0].get("environment", {})
            trials = {t.number: TrialResult(t.number, t.params, number) for t in batch}
            retried += _record(trials, raw, folds)
            for trial in batch:
                strategy.tell(trial, trials[trial.number].mean(primary))
            done = [trials[t.number] for t in batch]
            if on_batch is not None:
                on_batch(done)
            results.extend(done)
            batches.append(len(tasks))
    except BaseException:
        broadcaster.close()
        raise
    wall = time.perf_counter() - started
    best = None
    for trial in sorted(results, key=lambda t: t.number):
        if best is None or _better(trial.mean(primary), best.mean(primary), maximize):
            best = trial
    if best is None or math.isnan(best.mean(primary)):
        broadcaster.close()
        first = next((t.error for t in results if t.error), "no trial produced a score")
        raise TrainingError(
            f"model '{spec.name}': every trial failed; first error: {first}",
            "check the estimator, its parameters and the feature types",
        )
    log.info(
        "model %s: best trial %d, mean %s %.4f (%d trials in %.1f s)",
        spec.name,
        best.number,
        primary,
        best.mean(primary),
        len(results),
        wall,
    )
    result = SearchResult(results, best, primary, wall, batches, environment, retried)
    return result, broadcaster


def choose_threshold(spec: ModelSpec, best: TrialResult) -> Decision | None:
    """The decision threshold of the spec's ``decision`` block, from the best trial's fold curves.

    A best trial that scores a whole fold alike (a constant model) keeps its own ``predict``
    (None) under the default decision, and is an error when the spec names the decision.

    Raises:
        TrainingError: a fold curve is missing, or the spec's decision cannot be tuned on a constant model.
    """
    decision = spec.decision
    if decision is None:
        return None
    if decision.fixed is not None:
        return Decision("fixed", decision.fixed)
    missing = [f for f in range(spec.cv.folds) if f not in best.curves]
    if missing:
        raise TrainingError(
            f"model '{spec.name}': trial {best.number} returned no decision curve for fold(s) {missing}",
            "re-run the search; the executors may run an older platform version",
        )
    try:
        tuned = tuned_threshold([best.curves[f] for f in range(spec.cv.folds)], decision.candidates)
    except ValueError as exc:
        if not spec.decision_given:  # the default f1 tuning: a constant model keeps its own predict
            log.warning(
                "model %s: trial %d predicts with its own threshold: %s, so no threshold can be tuned",
                spec.name,
                best.number,
                exc,
            )
            return None
        raise TrainingError(
            f"model '{spec.name}': the decision threshold of trial {best.number} cannot be tuned: {exc}",
            "give the model room to vary its scores, or set decision: {fixed: 0.5}",
        ) from exc
    rule = decision.rule
    costs = {"fp": decision.cost.fp, "fn": decision.cost.fn} if decision.cost is not None else None
    score = -tuned["score"] if rule == "cost" else tuned["score"]
    chosen = Decision(rule, tuned["threshold"], score, decision.candidates, costs, tuned["curve"])
    log.info("model %s: decision %s", spec.name, chosen)
    return chosen


def run_refit(
    broadcaster: "_Broadcaster", spec: ModelSpec, best: TrialResult, decision: Decision | None = None
) -> dict[str, Any]:
    """Refit the best parameters on all training rows inside the environment; evaluate on the held-out rows.

    With a ``decision``, the refit model is wrapped in a ``FixedThresholdClassifier`` at its threshold.
    """
    task = {
        "kind": "refit",
        "trial": best.number,
        "fold": -1,
        "params": best.params,
        "threshold": decision.threshold if decision is not None else None,
    }
    try:
        (result,) = broadcaster.run(
            [task], f"mlp train {spec.name}: refit trial {best.number} and evaluate on held-out rows"
        )
    finally:
        broadcaster.close()
    if result["error"]:
        raise TrainingError(
            f"model '{spec.name}': refitting trial {best.number} failed: {result['error']}", result.get("traceback", "")
        )
    return result
