"""``mlp train MODEL``: check, search on Spark, refit, log to MLflow, register if the bars are met.

Everything that can be wrong with the spec, the estimator, the training set or
the environment is checked before the first Spark job. Results are recorded by
the driver after each batch's ``collect()``, one MLflow child run per trial.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlplatform import envs, features, signing
from mlplatform.config import Settings, load_settings
from mlplatform.envs import ENV_ID_CONF
from mlplatform.errors import PlatformError, TrainingError
from mlplatform.launch.session import session, under_spark_submit
from mlplatform.lineage import Edge, record
from mlplatform.monitoring import Profile
from mlplatform.tracking import store
from mlplatform.tracking.model_registry import (
    ALIAS_CHALLENGER,
    MODEL_ARTIFACT,
    TAG_CODE_VERSION,
    TAG_DECISION,
    TAG_DECISION_THRESHOLD,
    TAG_ENV_ID,
    TAG_FEATURE_SETS,
    TAG_METRICS,
    TAG_PRIMARY_METRIC,
    TAG_SPEC_HASH,
    TAG_TRAINING_SET,
    ModelVersionInfo,
    sign_version,
)
from mlplatform.tracking.store import experiment_id, run_tags
from mlplatform.training.executor import HOLDOUT_COLUMN
from mlplatform.training.modeldir import requirements_from, write_model_dir
from mlplatform.training.prepare import Prepared, check_estimator, prepare
from mlplatform.training.reference import log_reference, reference_profile, store_reference
from mlplatform.training.report import write_evaluation
from mlplatform.training.runner import (
    Decision,
    SearchResult,
    TrialResult,
    choose_threshold,
    run_refit,
    run_search,
)
from mlplatform.training.spec import ModelSpec, Threshold, load_spec

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "TrainingData",
    "TrainResult",
    "train",
    "load_training_data",
    "check_thresholds",
    "summary_lines",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingData:
    """The rows to train on and where they came from."""

    frame: Any
    training_set_id: str | None = None
    feature_sets: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()  # entity keys and event time: never features


@dataclass
class TrainResult:
    """What a training run produced.

    ``misses`` non-empty means the refit model missed a bar: the run is kept, nothing is
    registered and ``version`` is None; :meth:`threshold_message` says so in one line.
    ``holdout_metrics`` are measured at the ``decision`` threshold; ``untuned_metrics`` are the
    threshold-dependent ones at the estimator's own ``predict`` (empty without a decision).
    """

    model: str
    run_id: str
    best_trial: int
    best_params: dict[str, Any]
    cv_score: float
    holdout_metrics: dict[str, float]
    trials: int
    search_wall_time: float
    search_fit_time: float
    efficiency: float
    retried_tasks: int
    executor: dict[str, Any]
    version: int | None = None
    misses: list[str] = field(default_factory=list)
    decision: Decision | None = None
    untuned_metrics: dict[str, float] = field(default_factory=dict)
    reference: Profile | None = field(default=None, repr=False)

    @property
    def model_id(self) -> str | None:
        return f"model:{self.model}@{self.version}" if self.version is not None else None

    def threshold_message(self) -> str | None:
        """The missed bars and where the run is kept, in one line (None when every bar was met)."""
        if not self.misses:
            return None
        return (
            f"model '{self.model}' not registered: held-out " + "; ".join(self.misses) + f" — run {self.run_id} "
            f"is kept in experiment '{self.model}'; improve the model or revisit the bar"
        )


def summary_lines(result: TrainResult) -> list[str]:
    """A short human report of a training run (for the CLI and the job's log)."""
    holdout = ", ".join(f"{k} {v:.4f}" for k, v in result.holdout_metrics.items())
    lines = [
        f"model {result.model}: {result.trials} trials, best trial {result.best_trial} {result.best_params}",
        f"  cv score {result.cv_score:.4f}; held-out {holdout}",
        *([f"  decision {result.decision}"] if result.decision is not None else []),
        f"  search {result.search_wall_time:.1f} s wall, {result.search_fit_time:.1f} s of fits, "
        f"efficiency {result.efficiency:.2f}, {result.retried_tasks} task(s) retried",
        f"  executors ran Python {result.executor.get('python')} "
        f"with scikit-learn {result.executor.get('packages', {}).get('scikit-learn')}",
        f"  MLflow run {result.run_id}",
    ]
    if result.version is not None:
        lines.append(f"registered {result.model_id} (alias challenger)")
    return lines


def load_training_data(spec: ModelSpec, settings: Settings, version: int | None = None) -> TrainingData:
    """Read the spec's training set (pandas, no Spark) with its id and feature-set versions.

    Raises:
        TrainingError: the training set or the requested version does not exist.
    """

    name = spec.training_set.name
    wanted = version if version is not None else spec.training_set.version
    try:
        manifest = features.trainset_manifest(name, version=wanted, settings=settings)
        frame = features.read_trainset(name, version=manifest["version"], settings=settings)
    except PlatformError as exc:
        at = f"version {wanted}" if wanted is not None else "latest version"
        raise TrainingError(
            f"model '{spec.name}': training set '{name}' ({at}) cannot be read: {exc.message}", exc.hint
        ) from exc
    labels = manifest.get("spec", {}).get("labels", {})
    keys = [*labels.get("keys", []), labels.get("event_timestamp")]
    return TrainingData(
        frame=frame,
        training_set_id=manifest["id"],
        feature_sets=tuple(sorted(f["id"] for f in manifest.get("features", {}).values())),
        exclude=tuple(k for k in keys if k),
    )


def check_thresholds(thresholds: list[Threshold], metrics: dict[str, float]) -> list[str]:
    """One line per missed bar: metric, value, bar and by how much it missed."""
    misses = []
    for bar in thresholds:
        value = metrics.get(bar.metric, float("nan"))
        if value != value or not bar.passes(value):
            miss = "no value" if value != value else f"missed by {bar.miss(value):.4f}"
            misses.append(f"{bar.metric} = {value:.4f}, bar {bar} ({miss})")
    return misses


class _Tracker:
    """The parent MLflow run and one child run per trial, written through one client."""

    def __init__(self, spec: ModelSpec, settings: Settings, tags: dict[str, str]) -> None:
        from mlflow import MlflowClient

        self.spec = spec
        self.experiment = experiment_id(spec.name, settings)
        self.client = MlflowClient()
        run = self.client.create_run(
            self.experiment, run_name=f"train-{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}", tags=run_tags(tags)
        )
        self.run_id = run.info.run_id
        self.artifact_uri = run.info.artifact_uri
        self.log(params=_flat_params(spec))

    def log(
        self,
        run_id: str | None = None,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id or self.run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if v == v],
            params=[Param(k, str(v)[:6000]) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
        )

    def trial(self, trial: TrialResult) -> None:
        """A child run with the trial's params, fold metrics, mean/std and fit time."""
        from mlflow.entities import Metric

        child = self.client.create_run(
            self.experiment,
            run_name=f"trial-{trial.number:03d}",
            tags=run_tags(
                {"mlflow.parentRunId": self.run_id, "mlp.trial": str(trial.number), "mlp.batch": str(trial.batch)}
            ),
        )
        child_id = child.info.run_id
        metrics: dict[str, float] = {
            "fit_time": trial.fit_time,
            "fit_time_mean": trial.fit_time / max(len(trial.fit_times), 1),
        }
        for name in trial.fold_metrics:
            metrics[f"mean_{name}"] = trial.mean(name)
            metrics[f"std_{name}"] = trial.std(name)
        tags = {"mlp.task_attempts": json.dumps(trial.attempts)}
        if trial.error:
            tags["mlp.error"] = trial.error[:5000]
        self.log(child_id, params=trial.params, metrics=metrics, tags=tags)
        now = int(time.time() * 1000)
        folds = [
            Metric(f"fold_{name}", value, now, step)
            for name, values in trial.fold_metrics.items()
            for step, value in enumerate(values)
        ]
        if folds:
            self.client.log_batch(child_id, metrics=folds)
        self.client.set_terminated(child_id, "FAILED" if trial.error else "FINISHED")

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status)


def _flat_params(spec: ModelSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "estimator": spec.estimator,
        "strategy": spec.search.strategy,
        "trials": spec.search.trials,
        "parallelism": spec.search.parallelism,
        "cv_folds": spec.cv.folds,
        "cv_stratified": spec.cv.stratified,
        "cv_seed": spec.cv.seed,
        "holdout_fraction": spec.holdout.fraction,
        "primary_metric": spec.metrics.primary,
        "thresholds": "; ".join(spec.metrics.thresholds),
        "decision": spec.decision.describe() if spec.decision is not None else "none (the estimator's predict)",
        "calibration": f"{spec.calibration.method}, {spec.calibration.folds} folds" if spec.calibration else "none",
        "search_space": json.dumps(spec.model_dump(mode="json")["search"]["space"], sort_keys=True),
    }
    out.update({f"fixed.{k}": v for k, v in spec.params.items()})
    return out


def _resolve_env(spec: ModelSpec, settings: Settings, explicit: str | None, shipped: str | None = None) -> Any:
    """The environment trials run in: ``--env``, else the one ``mlp submit --env`` shipped (``shipped``), else the
    spec's.

    None means the driver's Python (no ``env`` anywhere).
    """
    ref = explicit or shipped or spec.env
    if not ref:
        return None
    if under_spark_submit() and not shipped:
        raise TrainingError(
            f"model '{spec.name}' runs in environment '{ref}' but this job was submitted without it",
            f"submit with: mlp submit --env {ref} tune {spec.name}",
        )

    try:
        artifact = envs.resolve(ref, settings)
    except PlatformError as exc:
        raise TrainingError(
            f"model '{spec.name}': environment '{ref}' cannot be resolved: {exc.message}", exc.hint
        ) from exc
    if shipped and shipped != artifact.id:
        raise TrainingError(
            f"model '{spec.name}' asks for {artifact.id} but the job was submitted with {shipped}",
            f"submit with --env {artifact.id}, or drop --env from the train arguments",
        )
    return artifact


def _check_env_decision(spec: ModelSpec, artifact: Any) -> None:
    """A decision threshold needs ``FixedThresholdClassifier`` (scikit-learn >= 1.5) in the model's environment."""
    if spec.decision is None or artifact is None:
        return
    version = (getattr(artifact, "packages", None) or {}).get("scikit-learn")
    parts = [int(p) for p in re.findall(r"\d+", version or "")[:2]]
    if len(parts) == 2 and tuple(parts) < (1, 5):
        raise TrainingError(
            f"model '{spec.name}': its decision threshold ({spec.decision.describe()}) needs scikit-learn >= 1.5 "
            f"(FixedThresholdClassifier), but environment {artifact.id} has scikit-learn {version}",
            "raise scikit-learn in the environment to 1.5 or later, or set decision: null in the model spec",
        )


def _submitted(
    spec: ModelSpec, settings: Settings, explicit: str | None, spark: "SparkSession | None"
) -> tuple["SparkSession", Any]:
    """Inside a spark-submit driver: the session and the environment ``mlp submit --env`` shipped (Spark conf)."""

    spark = spark or session(app_name=f"mlp-train-{spec.name}", settings=settings)
    return spark, _resolve_env(spec, settings, explicit, shipped=spark.conf.get(ENV_ID_CONF, None))


def _session(spec: ModelSpec, settings: Settings, env: Any, profile: str | None) -> "SparkSession":
    """A session whose executors run ``env`` (checked by a preflight task per core)."""

    return session(profile=profile, app_name=f"mlp-train-{spec.name}", settings=settings, env=env)


def _register(spec: ModelSpec, settings: Settings, tracker: _Tracker, tags: dict[str, str]) -> int:
    """A new model version from the run's ``model/`` artifact, alias challenger, lineage edges."""
    from mlflow.exceptions import MlflowException

    client = tracker.client
    try:
        client.get_registered_model(spec.name)
    except MlflowException:
        client.create_registered_model(spec.name, description=spec.description or None)
    mv = client.create_model_version(
        spec.name, source=f"{tracker.artifact_uri}/{MODEL_ARTIFACT}", run_id=tracker.run_id, tags=tags
    )
    version = int(mv.version)
    if settings.signing_key:
        try:
            sign_version(ModelVersionInfo(spec.name, version, tracker.run_id, mv.source or ""), settings)
        except BaseException:
            client.delete_model_version(spec.name, str(version))  # no unsigned version is left registered
            raise
    client.set_registered_model_alias(spec.name, ALIAS_CHALLENGER, str(version))
    model_id = f"model:{spec.name}@{version}"
    edges = [
        Edge(
            tags[TAG_CODE_VERSION] if tags[TAG_CODE_VERSION].startswith("code:") else f"code:{tags[TAG_CODE_VERSION]}",
            "code",
            model_id,
        )
    ]
    if tags.get(TAG_ENV_ID):
        edges.append(Edge(tags[TAG_ENV_ID], "environment", model_id))
    if tags.get(TAG_TRAINING_SET):
        edges.append(Edge(tags[TAG_TRAINING_SET], "training_set", model_id))
    record(
        settings,
        edges,
        action="register",
        job_run=tracker.run_id,
        details={"alias": ALIAS_CHALLENGER, "spec_hash": spec.digest()},
    )
    log.debug("registered %s (alias %s)", model_id, ALIAS_CHALLENGER)
    return version


def _log_model(tracker: _Tracker, prepared: Prepared, refit: dict[str, Any], env: Any, workdir: Path) -> None:

    executor = refit["environment"]
    packages = executor.get("packages", {})
    lock = [f"{name}=={version}" for name, version in sorted(env.packages.items())] if env is not None else None
    example = prepared.frame[~prepared.frame[HOLDOUT_COLUMN]][prepared.features].head(len(refit["example_predictions"]))
    model_dir = write_model_dir(
        workdir / MODEL_ARTIFACT,
        refit["model_bytes"],
        example.reset_index(drop=True),
        refit["example_predictions"],
        sklearn_version=packages.get("scikit-learn") or "unknown",
        python_version=executor.get("python", ""),
        requirements=requirements_from(packages, lock),
        run_id=tracker.run_id,
    )
    tracker.client.log_artifacts(tracker.run_id, str(model_dir), MODEL_ARTIFACT)


def _search_summary(search: SearchResult, cores: int) -> dict[str, float]:
    efficiency = (search.fit_time / max(cores, 1)) / search.wall_time if search.wall_time else 0.0
    return {
        "search_wall_time": search.wall_time,
        "search_fit_time": search.fit_time,
        "search_efficiency": efficiency,
        "search_tasks": float(sum(search.batches)),
        "search_jobs": float(len(search.batches)),
        "task_retries": float(search.retried_tasks),
        "trials_failed": float(sum(1 for t in search.trials if t.error)),
    }


def train(
    model: str | ModelSpec,
    settings: Settings | None = None,
    spark: "SparkSession | None" = None,
    data: TrainingData | None = None,
    training_set_version: int | None = None,
    code_version: str | None = None,
    env: str | None = None,
    profile: str | None = None,
) -> TrainResult:
    """Tune, refit, log and (if every threshold passes) register ``model``.

    A missed threshold is a result, not an error: the run is kept, nothing is registered,
    ``result.misses`` lists the missed bars and ``result.version`` is None (logged as a warning).

    Args:
        model: a model name (``conf/models/<name>.yaml``), a spec file, or a :class:`ModelSpec`.
        spark: a session to use (default: one for ``profile`` running the model's environment).
        data: rows to train on instead of reading the spec's training set.
        training_set_version: overrides the spec's training set version.
        code_version: recorded code version (default: git commit of the project).
        env: environment name or id overriding the spec's ``env``.

    Raises:
        TrainingError: bad spec or input (before any Spark job), a failed search.
    """

    settings = settings or load_settings()
    spec = model if isinstance(model, ModelSpec) else load_spec(model)
    check_estimator(spec)
    signing.signing_key(settings)  # a bad signing key is refused before any work, not at registration
    artifact = None if under_spark_submit() else _resolve_env(spec, settings, env)
    _check_env_decision(spec, artifact)
    data = data or load_training_data(spec, settings, training_set_version)
    prepared = prepare(spec, data.frame, exclude=data.exclude)
    if under_spark_submit():
        spark, artifact = _submitted(spec, settings, env, spark)
        _check_env_decision(spec, artifact)
    store.configure(settings)
    tags = _model_tags(spec, settings, data, artifact, code_version)
    spark = spark or _session(spec, settings, artifact, profile)
    tracker = _Tracker(spec, settings, {**tags, "mlp.model": spec.name, "mlp.strategy": spec.search.strategy})
    try:
        result = _tune(spark, spec, prepared, tracker, artifact)
        _register_or_keep(spec, settings, tracker, {**tags, **_decision_tags(result.decision)}, result)
    except BaseException:
        tracker.finish("FAILED")
        raise
    tracker.finish()
    if result.misses:
        log.warning("%s", result.threshold_message())
    return result


def _model_tags(
    spec: ModelSpec, settings: Settings, data: TrainingData, artifact: Any, code_version: str | None
) -> dict[str, str]:
    """The tags the run and the model version carry: spec hash, code, metrics, training set, features, env."""
    tags = {
        TAG_SPEC_HASH: spec.digest(),
        TAG_CODE_VERSION: store.code_version(settings, code_version),
        TAG_METRICS: json.dumps(spec.metric_definitions(), sort_keys=True),
        TAG_PRIMARY_METRIC: spec.metrics.primary,
        TAG_TRAINING_SET: data.training_set_id or "",
        TAG_FEATURE_SETS: json.dumps(list(data.feature_sets)),
        TAG_ENV_ID: getattr(artifact, "id", "") if artifact is not None else "",
    }
    return {k: v for k, v in tags.items() if v}


def _decision_tags(decision: Decision | None) -> dict[str, str]:
    """The model version's record of its decision threshold (none without one)."""
    if decision is None:
        return {}
    return {
        TAG_DECISION: json.dumps(decision.as_tag(), sort_keys=True),
        TAG_DECISION_THRESHOLD: repr(decision.threshold),
    }


def _tune(spark: "SparkSession", spec: ModelSpec, prepared: Prepared, tracker: _Tracker, env: Any) -> TrainResult:
    """Search (one child run per trial), choose the threshold, refit the best trial, log its metrics, plots, model."""
    search, broadcaster = run_search(spark, spec, prepared, on_batch=lambda trials: [tracker.trial(t) for t in trials])
    try:
        decision = choose_threshold(spec, search.best)
    except BaseException:
        broadcaster.close()
        raise
    refit = run_refit(broadcaster, spec, search.best, decision)
    summary = _search_summary(search, spark.sparkContext.defaultParallelism)
    _log_refit(tracker, search, refit, summary, decision)
    reference = reference_profile(spec.name, prepared, refit.get("holdout_outputs"))
    with tempfile.TemporaryDirectory(prefix="mlp-train-") as tmp:
        _log_evaluation(tracker, spec, search, refit, Path(tmp), decision)
        _log_model(tracker, prepared, refit, env, Path(tmp))
        log_reference(tracker.client, tracker.run_id, reference, Path(tmp))
    return TrainResult(
        model=spec.name,
        run_id=tracker.run_id,
        best_trial=search.best.number,
        best_params=search.best.params,
        cv_score=search.best.mean(search.primary),
        holdout_metrics=refit["metrics"],
        trials=len(search.trials),
        search_wall_time=search.wall_time,
        search_fit_time=search.fit_time,
        efficiency=summary["search_efficiency"],
        retried_tasks=search.retried_tasks,
        executor=refit["environment"],
        decision=decision,
        untuned_metrics=dict(refit.get("untuned_metrics") or {}),
        reference=reference,
    )


def _log_refit(
    tracker: _Tracker,
    search: SearchResult,
    refit: dict[str, Any],
    summary: dict[str, float],
    decision: Decision | None = None,
) -> None:
    """The best params, search summary, cv and held-out metrics, the decision threshold, what the executors ran."""
    executor = refit["environment"]
    params = {f"best.{k}": v for k, v in search.best.params.items()}
    metrics = {
        **summary,
        f"best_cv_{search.primary}": search.best.mean(search.primary),
        **{f"holdout_{k}": v for k, v in refit["metrics"].items()},
        **{f"holdout_untuned_{k}": v for k, v in (refit.get("untuned_metrics") or {}).items()},
        "refit_fit_time": refit["fit_time"],
    }
    tags = _decision_tags(decision)
    if decision is not None:
        params["decision_threshold"] = repr(decision.threshold)
        metrics["decision_threshold"] = decision.threshold
        if decision.cv_score is not None:
            metrics[f"cv_decision_{decision.rule}"] = decision.cv_score
    tracker.log(
        params=params,
        metrics=metrics,
        tags={
            **tags,
            "mlp.best_trial": str(search.best.number),
            "mlp.executor.python": executor.get("python", ""),
            "mlp.executor.executable": executor.get("executable", ""),
            "mlp.executor.sklearn": executor.get("packages", {}).get("scikit-learn") or "",
            "mlp.executor.packages": json.dumps(executor.get("packages", {}), sort_keys=True),
        },
    )


def _log_evaluation(
    tracker: _Tracker,
    spec: ModelSpec,
    search: SearchResult,
    refit: dict[str, Any],
    workdir: Path,
    decision: Decision | None = None,
) -> None:
    """``plots/`` and ``evaluation/`` (the refit's evaluation, every trial's summary, the decision) as run artifacts."""
    write_evaluation(refit["evaluation"], str(workdir), f"{spec.name} trial {search.best.number}")
    if decision is not None:
        record = {**decision.as_tag(), "mean_curve": decision.curve, "untuned_metrics": refit.get("untuned_metrics")}
        (workdir / "evaluation" / "decision.json").write_text(json.dumps(record, indent=1))
    trials_summary = [
        {
            "trial": t.number,
            "params": t.params,
            "mean": t.mean(search.primary),
            "std": t.std(search.primary),
            "fit_time": t.fit_time,
            "attempts": t.attempts,
            "error": t.error,
        }
        for t in search.trials
    ]
    (workdir / "evaluation" / "trials.json").write_text(json.dumps(trials_summary, indent=1, default=str))
    tracker.client.log_artifacts(tracker.run_id, str(workdir / "plots"), "plots")
    tracker.client.log_artifacts(tracker.run_id, str(workdir / "evaluation"), "evaluation")


def _register_or_keep(
    spec: ModelSpec, settings: Settings, tracker: _Tracker, tags: dict[str, str], result: TrainResult
) -> None:
    """Register the model if it clears every bar (``result.version``), else record the misses (``result.misses``)."""
    result.misses = check_thresholds(spec.metrics.parsed_thresholds(), result.holdout_metrics)
    if result.misses:
        tracker.log(tags={"mlp.registered": "false", "mlp.threshold_misses": json.dumps(result.misses)})
    else:
        result.version = _register(spec, settings, tracker, tags)
        if result.reference is not None:
            store_reference(settings, result.reference, result.version, tracker.run_id)
        tracker.log(tags={"mlp.registered": "true", "mlp.model_version": str(result.version)})
