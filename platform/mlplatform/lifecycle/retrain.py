"""Retrain -> benchmark -> promote or keep, for one model and one run date.

For run date ``D`` and the model's policy (``conf/lifecycle.yaml``: ``holdout_days`` H,
``min_holdout_rows``, ``margin``):

1. The fresh holdout is the labelled rows with label time in ``[D + 1 day - H days,
   D + 1 day)``, minus anything the champion was trained on (its training set's label
   time range ends earlier, or the window starts after that end). Fewer than
   ``min_holdout_rows`` such rows means there is nothing new to learn from or judge on:
   :class:`NoNewDataError` (exit code 99) before anything is built or trained.
2. The holdout is built with the model's training-set spec as its own training set
   ``<training set>_holdout`` (a new version, point-in-time correct, with a manifest), so
   the benchmark's input is reproducible and has lineage.
3. The challenger's training set is the same spec with labels before the holdout
   window: a new version of the model's training set. Neither model has seen the holdout.
4. The challenger is tuned, refit and registered by the training package (alias
   ``challenger``). If it misses a threshold in training it is not registered and the
   champion is kept.
5. Champion and challenger are evaluated on the holdout, each in its own environment;
   the gates decide (:mod:`mlplatform.lifecycle.gates`); the report goes to MLflow, the
   benchmarks table and the lineage table; the challenger is promoted or the champion
   kept, and the decision is an audit row either way.

Re-running the same run date is a no-op that reports the earlier decision, unless forced.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

from mlplatform import features, tables
from mlplatform.config import Settings, load_settings
from mlplatform.errors import (
    LifecycleError,
    MonitoringError,
    NoNewDataError,
    NotTriggeredError,
    PlatformError,
    UnknownModelError,
)
from mlplatform.lifecycle import realized, triggers
from mlplatform.lifecycle.approvals import promote_or_request
from mlplatform.lifecycle.benchmark import history, run_benchmark
from mlplatform.lifecycle.gates import ModelPolicy, load_config
from mlplatform.lifecycle.models import champion_version
from mlplatform.lifecycle.triggers import TriggerCheck
from mlplatform.lineage.edges import record
from mlplatform.lineage.trainsets import trainset_edges
from mlplatform.tracking import model_registry
from mlplatform.tracking.model_registry import TAG_TRAINING_SET
from mlplatform.training.spec import ModelSpec, load_spec, spec_names
from mlplatform.training.train import TrainResult, train

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["RetrainOutcome", "HoldoutWindow", "holdout_window", "retrain", "parse_run_date"]

log = logging.getLogger(__name__)

HOLDOUT_SUFFIX = "_holdout"


@dataclass(frozen=True)
class RetrainOutcome:
    """What a retrain run decided, and where its evidence is."""

    model: str
    run_date: str
    decision: str  # promoted | promotion requested | kept | already done
    champion: str
    challenger: str | None
    reasons: tuple[str, ...]
    job_run: str
    training_set: str | None = None
    holdout: str | None = None
    holdout_rows: int | None = None
    benchmark_id: str | None = None
    mlflow_run_id: str | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    trigger: str | None = None  # why monitoring asked for this retrain, when it did

    def lines(self) -> list[str]:
        """A human summary, one fact per line."""
        if self.decision == "already done":
            out = [f"{self.model} {self.run_date}: ALREADY DONE (champion now: {self.champion})"]
        else:
            out = [
                f"{self.model} {self.run_date}: {self.decision.upper()} "
                f"(champion before: {self.champion}, challenger: {self.challenger or 'none'})"
            ]
        out += [f"  {self.trigger}"] if self.trigger else []
        out += [f"  {r}" for r in self.reasons]
        if self.training_set:
            out.append(
                f"  challenger trained on {self.training_set}; holdout {self.holdout} ({self.holdout_rows} rows)"
            )
        if self.benchmark_id:
            out.append(
                f"  benchmark {self.benchmark_id}: MLflow run {self.mlflow_run_id} "
                "(benchmark/roc.png, benchmark/report.md)"
            )
        return out


@dataclass(frozen=True)
class HoldoutWindow:
    """Label times ``[start, end)`` of the fresh holdout."""

    start: datetime
    end: datetime


def parse_run_date(text: str | date) -> date:
    """``YYYY-MM-DD`` as a date; LifecycleError otherwise."""
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise LifecycleError(
            f"run date '{text}' is not a date", "write it as YYYY-MM-DD, e.g. --run-date 2026-05-01"
        ) from exc


def holdout_window(
    run_date: date, holdout_days: int, champion_end: datetime | None, labels: Any = None
) -> HoldoutWindow:
    """The last ``holdout_days`` up to the end of ``run_date``, after the champion's last label,
    inside the spec's own label range (``labels.start`` / ``labels.end``) when it has one."""
    end = datetime.combine(run_date + timedelta(days=1), time.min, tzinfo=timezone.utc)
    start = end - timedelta(days=holdout_days)
    if champion_end is not None and champion_end >= start:
        start = champion_end + timedelta(microseconds=1)
    spec_start, spec_end = _time(getattr(labels, "start", None)), _time(getattr(labels, "end", None))
    return HoldoutWindow(max(start, spec_start) if spec_start else start, min(end, spec_end) if spec_end else end)


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    when = datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _champion_end(champion: Any, settings: Settings) -> datetime | None:
    """The last label time of the champion's training set (from its manifest), if recorded."""

    ts_id = champion.tags.get(TAG_TRAINING_SET) or ""
    name, _, version = ts_id.removeprefix("ts:").partition("@v")
    if not name or not version.isdigit():
        log.warning("%s records no training set; the holdout is the last window only", champion.id)
        return None
    try:
        manifest = features.trainset_manifest(name, int(version), settings=settings)
    except PlatformError as exc:
        log.warning(
            "training set %s of %s cannot be read (%s); the holdout is the last window only",
            ts_id,
            champion.id,
            exc.message,
        )
        return None
    return _time((manifest.get("time_range") or {}).get("end"))


def _fresh_rows(ts_spec: Any, window: HoldoutWindow, settings: Settings) -> int:
    """Label rows in the window: counted on the label table before anything is built."""

    column = ts_spec.labels.event_timestamp
    uri = tables.resolve_name(settings, ts_spec.labels.table)
    frame = tables.to_arrow(
        uri,
        columns=[column],
        filters=[(column, ">=", window.start), (column, "<", window.end)],
        version=ts_spec.labels.version,
    )
    return frame.num_rows


def _build(ts_spec: Any, settings: Settings, spark: "SparkSession | None", job_run: str) -> Any:

    built = features.build_trainset(ts_spec, settings, spark=spark)
    record(
        settings,
        trainset_edges(built.id, built.manifest),
        action="build_trainset",
        job_run=job_run,
        details={"rows": built.rows, "engine": built.engine},
    )
    return built


def _previous(model: str, run_date: str, settings: Settings) -> dict[str, Any] | None:

    done = [row for row in history(settings, model=model) if row["run_date"] == run_date]
    return done[0] if done else None


def _resolve(model: str, settings: Settings) -> tuple[Any, Any]:
    """(model spec, champion version info); clear errors for unknown models and missing champions."""

    if model not in spec_names():
        known = ", ".join(spec_names()) or "none"
        raise UnknownModelError(f"no model spec named '{model}' (conf/models/{model}.yaml)", f"model specs: {known}")
    spec = load_spec(model)
    return spec, model_registry.resolve(f"{model}@{champion_version(model, settings)}", settings)


@dataclass(frozen=True)
class _Run:
    """One retrain invocation: the model, its run date and champion, and the job run every record names."""

    model: str
    day: date
    champion: Any
    job_run: str
    settings: Settings
    trigger: TriggerCheck | None = None

    @property
    def run_date(self) -> str:
        return self.day.isoformat()

    @property
    def trigger_reason(self) -> str | None:
        return self.trigger.reason if self.trigger and self.trigger.fired else None

    def close_trigger(self) -> None:
        """A fired trigger that led to a decision: its audit event starts the cooldown."""
        if self.trigger_reason and self.trigger:
            triggers.record_fired(self.settings, self.trigger, self.job_run, self.champion.id)


def retrain(
    model: str,
    run_date: str | date,
    settings: Settings | None = None,
    spark: "SparkSession | None" = None,
    margin: float | None = None,
    force: bool = False,
    code_version: str | None = None,
    config_file: str | None = None,
) -> RetrainOutcome:
    """Retrain ``model`` for ``run_date``, benchmark the challenger against the champion, promote or keep.

    Raises:
        UnknownModelError: no spec or no registered model named ``model`` (exit code 3).
        NoChampionError: the model has no champion to compare with (exit code 4).
        NoNewDataError: too few fresh labelled rows since the champion (exit code 99).
    """

    settings = settings or load_settings()
    day = parse_run_date(run_date)
    spec, champion = _resolve(model, settings)
    policy = load_config(config_file).policy(model)
    margin = policy.margin if margin is None else margin
    run = _Run(model, day, champion, f"retrain-{model}-{day.isoformat()}-{uuid.uuid4().hex[:8]}", settings)

    earlier = None if force else _previous(model, run.run_date, settings)
    if earlier is not None:
        return _already_done(run, earlier)
    run = _watch(run, policy)
    ts_spec = features.load_trainset_spec(spec.training_set.name)
    window = _fresh_window(run, ts_spec, policy)
    holdout, training = _build_sets(run, ts_spec, window, spark)
    result = train(spec, settings, spark=spark, training_set_version=training.version, code_version=code_version)
    if result.misses:
        return _keep_unregistered(run, result, training, holdout)
    return _benchmark(run, spec, result, training, holdout, margin)


def _watch(run: _Run, policy: ModelPolicy) -> _Run:
    """Realized performance brought up to date, then the triggers: the run, knowing what monitoring says.

    Raises:
        NotTriggeredError: the policy retrains on triggers only and none fired (exit code 99).
    """
    try:
        realized.measure(run.model, run.settings, policy.label_window_delta, job_run=run.job_run)
    except MonitoringError as exc:
        log.info("realized performance of %s not measured: %s", run.model, exc.message)
    check = triggers.evaluate(run.settings, run.model, int(run.champion.version), run.day, policy.triggers)
    log.info("retrain %s for %s: %s", run.model, run.day, " ".join(line.strip() for line in check.lines()))
    if policy.retrain_on == "triggers" and not check.fired:
        held = f" ({check.cooldown})" if check.cooldown else ""
        raise NotTriggeredError(
            f"model '{run.model}' on {run.day}: no retraining trigger fired for {run.champion.id}{held}",
            "nothing to do tonight: conf/lifecycle.yaml retrains it on triggers only (retrain_on: triggers)",
        )
    return _Run(run.model, run.day, run.champion, run.job_run, run.settings, check)


def _already_done(run: _Run, earlier: dict[str, Any]) -> RetrainOutcome:
    """The earlier decision for this run date, retraining nothing."""
    reason = (
        f"run date {run.day} was already benchmarked ({earlier['benchmark_id']}: {earlier['decision']}); "
        "pass --force to retrain again"
    )
    return RetrainOutcome(
        run.model,
        run.run_date,
        "already done",
        run.champion.id,
        f"model:{run.model}@{earlier['challenger_version']}",
        (reason,),
        run.job_run,
        benchmark_id=earlier["benchmark_id"],
        mlflow_run_id=earlier["mlflow_run_id"],
    )


def _fresh_window(run: _Run, ts_spec: Any, policy: ModelPolicy) -> HoldoutWindow:
    """The holdout window, once it holds ``min_holdout_rows`` labelled rows the champion has not seen.

    Raises:
        NoNewDataError: fewer fresh rows than that (nothing is built or trained).
    """
    window = holdout_window(run.day, policy.holdout_days, _champion_end(run.champion, run.settings), ts_spec.labels)
    fresh = _fresh_rows(ts_spec, window, run.settings) if window.start < window.end else 0
    if fresh < policy.min_holdout_rows:
        raise NoNewDataError(
            f"model '{run.model}' on {run.day}: {fresh} labelled row(s) from {window.start:%Y-%m-%d %H:%M} "
            f"to {window.end:%Y-%m-%d %H:%M} UTC that {run.champion.id} has not seen; {policy.min_holdout_rows} needed",
            "nothing to retrain on yet: run again when new labels have landed "
            "(or lower min_holdout_rows in conf/lifecycle.yaml)",
        )
    log.info(
        "retrain %s for %s: %d fresh labelled rows from %s; champion %s",
        run.model,
        run.day,
        fresh,
        window.start.isoformat(),
        run.champion.id,
    )
    return window


def _build_sets(run: _Run, ts_spec: Any, window: HoldoutWindow, spark: "SparkSession | None") -> tuple[Any, Any]:
    """(holdout, challenger's training set): the window as ``<name>_holdout``, the labels before it as ``<name>``."""
    labels = ts_spec.labels
    holdout_spec = ts_spec.model_copy(update={
        "name": f"{ts_spec.name}{HOLDOUT_SUFFIX}",
        "labels": labels.model_copy(update={"start": window.start.isoformat(), "end": window.end.isoformat()}),
    })  # fmt: skip
    train_spec = ts_spec.model_copy(update={"labels": labels.model_copy(update={"end": window.start.isoformat()})})
    holdout = _build(holdout_spec, run.settings, spark, run.job_run)
    training = _build(train_spec, run.settings, spark, run.job_run)
    return holdout, training


def _keep_unregistered(run: _Run, result: TrainResult, training: Any, holdout: Any) -> RetrainOutcome:
    """The challenger missed a threshold in training: not registered, the champion is kept (an audit row)."""
    reasons = tuple(f"challenger not registered: held-out {miss}" for miss in result.misses)
    details = {
        "model": run.model,
        "version": run.champion.version,
        "reason": "; ".join(reasons),
        "training_run": result.run_id,
        "run_date": run.run_date,
        **({"trigger": run.trigger_reason} if run.trigger_reason else {}),
    }
    record(run.settings, [], action="keep", job_run=run.job_run, subject=run.champion.id, details=details)
    run.close_trigger()
    return RetrainOutcome(
        run.model,
        run.run_date,
        "kept",
        run.champion.id,
        None,
        reasons,
        run.job_run,
        training_set=training.id,
        holdout=holdout.id,
        holdout_rows=holdout.rows,
        trigger=run.trigger_reason,
    )


def _benchmark(
    run: _Run, spec: ModelSpec, result: TrainResult, training: Any, holdout: Any, margin: float
) -> RetrainOutcome:
    """Champion against the registered challenger on the holdout: promote it, or keep the champion (an audit row)."""
    model, champion, settings, job_run = run.model, run.champion, run.settings, run.job_run
    challenger = model_registry.resolve(f"{model}@{result.version}", settings)
    rows = features.read_trainset(holdout.name, holdout.version, settings=settings)
    report = run_benchmark(
        champion,
        challenger,
        rows,
        holdout.id,
        spec.label,
        settings,
        margin,
        run.run_date,
        job_run,
        trigger=run.trigger_reason,
    )
    reasons = tuple(report.decision.reasons)
    facts = {"benchmark": report.benchmark_id, "run_date": run.run_date, "mlflow_run": report.mlflow_run_id}
    if run.trigger_reason:
        facts["trigger"] = run.trigger_reason
    verdict = report.verdict
    if report.decision.promote:
        # governance: with approval: required in conf/governance.yaml the PROMOTE waits as a pending request
        verdict = promote_or_request(model, challenger.version, settings, report.decision.summary(), job_run, facts)
    else:
        details = {
            "model": model,
            "version": champion.version,
            "challenger": challenger.version,
            "reason": report.decision.summary(),
            **facts,
        }
        record(settings, [], action="keep", job_run=job_run, subject=champion.id, details=details)
    run.close_trigger()
    return RetrainOutcome(
        model,
        run.run_date,
        verdict,
        champion.id,
        challenger.id,
        reasons,
        job_run,
        training_set=training.id,
        holdout=holdout.id,
        holdout_rows=holdout.rows,
        benchmark_id=report.benchmark_id,
        mlflow_run_id=report.mlflow_run_id,
        metrics={"champion": report.champion.metrics, "challenger": report.challenger.metrics},
        trigger=run.trigger_reason,
    )
