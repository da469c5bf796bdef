"""Nightly scoring from the feature repository: the model's own features, point in time, no skew.

A registered model version records the training set it was trained on
(``mlp.training_set``); that training set's manifest names every feature set, revision and
alias. :func:`score_features`, for one run date:

1. plans the scoring set (:mod:`mlplatform.features.scoring_sets`): the entities (a table,
   or every entity with a row within its TTL), the as-of time (the end of the run date in
   UTC unless given), and the guards — a changed definition, a stale feature set, an entity
   table without its keys, an empty population — all before any Spark job;
2. builds one row per entity with the model's features as known at the as-of time, with the
   same point-in-time join as training sets (in process or on Spark, ``auto`` as for
   training sets);
3. scores those rows like any input (:mod:`mlplatform.scoring.batch`: model environment,
   signature check, probe, ``mapInArrow``), with ``as_of`` among the keys of the scores;
4. replaces the run date's partition of ``<warehouse>/scores/<model>`` and then of
   ``<warehouse>/scoring_sets/<model>`` (the scored feature vectors, same run id): a run
   killed while scoring commits neither; re-running a run date replaces both;
5. records lineage: every feature-set version, the entity table, the model version and its
   environment -> ``scores:<model>@v<n>``;
6. measures drift and data quality against the version's reference profile
   (:mod:`mlplatform.scoring.drift_run`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Mapping

from mlplatform import lineage, tables
from mlplatform.config import Settings
from mlplatform.errors import ScoringError
from mlplatform.features import scoring_sets
from mlplatform.features.scoring_sets import AS_OF, EntityTable, end_of_day
from mlplatform.features.trainsets import trainset_manifest
from mlplatform.scoring.batch import (
    InputTable,
    ScoreResult,
    check_session_env,
    commit_scores,
    parse_run_date,
    plan_frame,
    resolve_input,
)
from mlplatform.scoring.drift_run import measure_drift
from mlplatform.tracking import model_registry

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["scoring_set_uri", "model_manifest", "plan_scoring_set", "score_features", "score_planned"]

log = logging.getLogger(__name__)

SCORING_SET_KEY = "scoring_set"


def scoring_set_uri(settings: Settings, model_name: str) -> str:
    """``<warehouse>/scoring_sets/<model>``: the feature vectors each run scored, partitioned by run date."""
    return tables.table_uri(settings, "scoring_sets", model_name)


def model_manifest(settings: Settings, info: model_registry.ModelVersionInfo) -> dict[str, Any]:
    """The manifest of the training set ``info`` was trained on; ScoringError when it records none."""
    trained_on = info.tags.get(model_registry.TAG_TRAINING_SET, "")
    name, _, version = trained_on.removeprefix("ts:").rpartition("@v")
    if not name or not version.isdigit():
        raise ScoringError(
            f"{info.id} records no training set (tag {model_registry.TAG_TRAINING_SET} is '{trained_on}'), so its "
            "features are unknown",
            "score it with --input TABLE holding its feature columns, or retrain it from a training set",
        )
    return trainset_manifest(name, int(version), settings)


def _entities(settings: Settings, text: str | None, where: str | None) -> EntityTable | None:
    if text is None:
        if where:
            raise ScoringError(
                "--entities-where filters an entity table, but no --entities was given",
                "pass --entities TABLE, or drop --entities-where",
            )
        return None
    source = resolve_input(settings, text)
    return EntityTable(id=source.id, uri=source.uri, version=source.version, where=where)


def plan_scoring_set(
    settings: Settings,
    info: model_registry.ModelVersionInfo,
    run_date: date,
    as_of: datetime | str | None = None,
    entities: str | None = None,
    entities_where: str | None = None,
    allow_definition_change: bool = False,
    max_staleness: Mapping[str, timedelta] | timedelta | None = None,
) -> scoring_sets.ScoringSetPlan:
    """The checked scoring set of model version ``info`` for ``run_date`` (no JVM; nothing written)."""
    manifest = model_manifest(settings, info)
    when = datetime.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    when = when or end_of_day(run_date)
    p = scoring_sets.plan(
        settings,
        manifest,
        when,
        f"model {info.name}@{info.version}",
        _entities(settings, entities, entities_where),
        allow_definition_change,
        max_staleness,
    )
    trained_until = (manifest.get("time_range") or {}).get("end")
    if trained_until and datetime.fromisoformat(trained_until) >= p.as_of:
        log.warning(
            "%s: as-of time %s is not after the end of its training data (%s, %s): these rows may be ones it "
            "was trained on",
            info.id,
            p.as_of.isoformat(),
            trained_until,
            p.trainset_id,
        )
    return p


def _frame(spark: "SparkSession", rows: Any) -> "DataFrame":
    """The scoring set as a Spark DataFrame, read twice (scored, then kept) without being built twice.

    A join on Spark is persisted; the in-process engine's Arrow rows are already built, and Spark
    re-reads them from the driver's batches for less than caching them costs.
    """
    return rows.persist() if hasattr(rows, "sparkSession") else spark.createDataFrame(rows)


def score_features(
    spark: "SparkSession",
    settings: Settings,
    model: str,
    run_date: str | date | None = None,
    as_of: datetime | str | None = None,
    entities: str | None = None,
    entities_where: str | None = None,
    engine: str = "auto",
    allow_definition_change: bool = False,
    max_staleness: Mapping[str, timedelta] | timedelta | None = None,
    run_id: str | None = None,
) -> ScoreResult:
    """Score ``model`` on its features as known at the end of ``run_date`` (or ``as_of``).

    Args:
        spark: the session; its Python workers run the model's environment.
        model: ``NAME@ALIAS`` or ``NAME@VERSION``.
        run_date: the partition of the scores and scoring-set tables to replace (default today, UTC).
        as_of: when the features are looked up (default the end of the run date, UTC).
        entities: a Delta table or feature set with the entity keys (default: every entity with a row
            within its TTL in the model's feature sets).
        entities_where: SQL filter on the entity table.
        engine: ``auto``, ``pandas`` (in process) or ``spark``: how the scoring set is joined.
        allow_definition_change: score although a feature set's definition changed since training
            (the change is logged and recorded in the lineage).
        max_staleness: how old a feature set's newest row may be (default its TTL).

    Raises:
        FeatureError: a guard refused the run (nothing written).
        ScoringError, ModelError: as :func:`mlplatform.scoring.batch.score`.
    """
    day = parse_run_date(run_date)
    info = model_registry.resolve(model, settings)
    p = plan_scoring_set(settings, info, day, as_of, entities, entities_where, allow_definition_change, max_staleness)
    return score_planned(spark, settings, info, p, day, engine, run_id)


def score_planned(
    spark: "SparkSession",
    settings: Settings,
    info: model_registry.ModelVersionInfo,
    p: scoring_sets.ScoringSetPlan,
    day: date,
    engine: str = "auto",
    run_id: str | None = None,
) -> ScoreResult:
    """Build, score and commit a planned scoring set (:func:`plan_scoring_set`) for ``day``."""
    started = time.monotonic()
    check_session_env(spark, info)
    vectors = _frame(spark, scoring_sets.build(p, engine, spark))
    try:
        source = InputTable(
            id=f"scoring_set:{info.name}@{day.isoformat()}",
            uri=scoring_set_uri(settings, info.name),
            version=None,
            keys=(*p.keys, AS_OF),
        )
        run = plan_frame(spark, settings, info, vectors, source, day, list(source.keys), run_id)
        result = commit_scores(spark, run, started, metadata=_metadata(p))
        scored_set = _commit_scoring_set(settings, vectors, p, info, day, run.run_id)
    finally:
        vectors.unpersist()
    result = replace(result, scoring_set_version=scored_set, as_of=p.as_of.isoformat())
    _record(settings, p, info, result)
    return replace(result, drift=measure_drift(settings, list(p.keys), result, spark=spark))


def _metadata(p: scoring_sets.ScoringSetPlan) -> dict[str, Any]:
    return {
        "as_of": p.as_of.isoformat(),
        "trainset": p.trainset_id,
        "feature_sets": p.feature_set_ids,
        "entities": p.entities.id if p.entities else "default population",
        "definition_changes": p.definition_changes,
    }


def _commit_scoring_set(
    settings: Settings,
    vectors: "DataFrame",
    p: scoring_sets.ScoringSetPlan,
    info: model_registry.ModelVersionInfo,
    day: date,
    run_id: str,
) -> int:
    """Replace the run date's partition of ``scoring_sets/<model>`` with the vectors just scored."""
    from pyspark.sql import functions as F

    frame = vectors.select(
        "*",
        F.lit(info.version).cast("int").alias("model_version"),
        F.lit(run_id).alias("scoring_run_id"),
        F.lit(day).cast("date").alias("run_date"),
    )
    uri = scoring_set_uri(settings, info.name)
    return tables.write(
        frame,
        uri,
        mode="overwrite",
        replace_where=f"run_date = '{day.isoformat()}'",
        partition_by=["run_date"],
        stats_columns=None if tables.exists(uri) else [*p.keys, AS_OF],
        metadata={"job": "score", "run_id": run_id, "model": info.id, SCORING_SET_KEY: _metadata(p)},
    )


def _record(
    settings: Settings, p: scoring_sets.ScoringSetPlan, info: model_registry.ModelVersionInfo, result: ScoreResult
) -> None:
    target = result.scores_id
    edges = [lineage.Edge(info.id, "model", target)]
    edges += [lineage.Edge(fs, "feature_set", target) for fs in p.feature_set_ids]
    if p.entities is not None:
        edges.append(lineage.Edge(p.entities.id, "entities", target))
    if info.env_id:
        edges.append(lineage.Edge(info.env_id, "environment", target))
    details = {
        "run_date": result.run_date,
        "rows": result.rows,
        "as_of": result.as_of,
        "scoring_set_version": result.scoring_set_version,
    }
    if p.definition_changes:
        details["definition_changes"] = p.definition_changes
    lineage.record(settings, edges, action="score", job_run=result.run_id, details=details)
    log.info(
        "scored %s on its features at %s (%s): %d rows -> %s and scoring_sets/%s@v%d (run date %s, %.1f s)",
        info.id,
        result.as_of,
        ", ".join(p.feature_set_ids),
        result.rows,
        result.scores_id,
        info.name,
        result.scoring_set_version,
        result.run_date,
        result.seconds,
    )
