"""Scoring sets: a model's features for a population of entities, as known at one time.

A registered model version was trained on one training-set version, whose manifest
names every feature set it read (with the definition revision and hash) and whose spec
names the references and aliases. A scoring set applies the same point-in-time join
(:mod:`mlplatform.features.pit`, both engines) to entity rows stamped with the as-of
time, so the row of entity ``k`` at time ``T`` equals the training-set row of a label of
``k`` at ``T``: the features the model sees in production are built exactly as those it
was trained on.

:func:`plan` resolves and checks everything before any data moves (no JVM):

- a feature set whose current definition differs from the one the model was trained
  with is refused, naming the set, both revisions and what changed, unless the caller
  allows it (then the current definition is read and the change is reported);
- a feature set whose newest row known at the as-of time is older than its TTL (or the
  model's ``max_staleness``) is refused: most entities would get nulls;
- the entities come from a table with the key columns (checked by name and type), or,
  without one, are every entity with a row within its TTL in any of the model's feature
  sets keyed like the model and bounded by a TTL (sets without one, static attributes,
  count only when no set has a TTL: they would keep every entity ever seen "active");
  an empty population is refused.

:func:`build` then joins, in process (deltalake + Arrow) or on Spark.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Mapping

from mlplatform import tables
from mlplatform.config import Settings
from mlplatform.errors import FeatureError
from mlplatform.features import registry
from mlplatform.features.definitions import TrainingSetSpec, format_duration
from mlplatform.features.pit import join_arrow, join_spark, key_family
from mlplatform.features.trainsets import (
    SetInput,
    engine_for,
    entity_keys,
    registered_sets,
    selected_columns,
    set_input,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["AS_OF", "EntityTable", "ScoringSetPlan", "plan", "build", "end_of_day"]

log = logging.getLogger(__name__)

AS_OF = "as_of"
# A declared key type -> the key family the join compares (features.pit.key_family of its Arrow type).
_DECLARED_FAMILY = {"int32": "integer", "int64": "integer", "string": "string", "timestamp": "timestamp"}


def end_of_day(day: Any) -> datetime:
    """The last microsecond of ``day`` in UTC: the default as-of time of a run date."""
    return datetime(day.year, day.month, day.day, 23, 59, 59, 999999, tzinfo=timezone.utc)


@dataclass(frozen=True)
class EntityTable:
    """The population to score: a Delta table at one version, optionally filtered (SQL on its columns)."""

    id: str
    uri: str
    version: int
    where: str | None = None


@dataclass(frozen=True)
class ScoringSetPlan:
    """A checked scoring set, not built yet.

    Attributes:
        subject: what the rows are for, in messages (``model churn@3``).
        trainset_id: the training set the model was trained on.
        keys: entity key columns.
        as_of: the time the features are looked up at.
        sets: every feature set read, at its current version.
        output_columns: keys, ``as_of``, then the model's features in training order.
        entities: the explicit population, or None for every entity of the feature sets.
        population: the entity keys to score (distinct), read before any Spark job.
        definition_changes: what changed in a feature set since training (only when allowed).
    """

    subject: str
    trainset_id: str
    keys: list[str]
    as_of: datetime
    sets: list[SetInput]
    output_columns: list[str]
    entities: EntityTable | None
    population: "pa.Table" = field(repr=False)
    definition_changes: list[str] = field(default_factory=list)

    @property
    def feature_set_ids(self) -> list[str]:
        return [f"fs:{s.join.name}@v{s.version}" for s in self.sets]


def _changes(old: registry.Registered, new: registry.Registered) -> str:
    """What differs between two revisions of a feature set, in words."""
    before, after = old.definition, new.definition
    old_types = {f.name: f.type for f in before.features}
    new_types = {f.name: f.type for f in after.features}
    parts = []
    added = [n for n in new_types if n not in old_types]
    removed = [n for n in old_types if n not in new_types]
    retyped = [
        f"{n} {old_types[n]} -> {new_types[n]}" for n in new_types if n in old_types and old_types[n] != new_types[n]
    ]
    parts += [f"features added: {', '.join(added)}"] if added else []
    parts += [f"features removed: {', '.join(removed)}"] if removed else []
    parts += [f"features retyped: {', '.join(retyped)}"] if retyped else []
    for attr in ("keys", "event_timestamp", "created_timestamp", "ttl", "source"):
        was, now = getattr(before, attr), getattr(after, attr)
        if was != now:
            parts.append(f"{attr} {was} -> {now}" if attr != "source" else "source changed")
    return "; ".join(parts) or "description or other metadata changed"


def _definitions(
    subject: str, spec: TrainingSetSpec, settings: Settings, recorded: dict[str, Any], allow_change: bool
) -> tuple[dict[str, registry.Registered], dict[str, registry.Registered], list[str]]:
    """The revisions the model was trained with, those to read now, and the changes between them."""
    trained = registered_sets(settings, spec, recorded)
    current = registered_sets(settings, spec, {})
    changes = []
    for name, reg in trained.items():
        now = current[name]
        if now.definition_hash != reg.definition_hash:
            changes.append(
                f"feature set '{name}' changed since {subject} was trained: revision {reg.revision} "
                f"({reg.definition_hash[:12]}) -> revision {now.revision} ({now.definition_hash[:12]}): "
                f"{_changes(reg, now)}"
            )
    if changes and not allow_change:
        raise FeatureError(
            "; ".join(changes),
            "retrain the model on the current definition (mlp retrain / mlp train), or score anyway with "
            "--allow-definition-change (recorded in the lineage)",
        )
    return trained, (current if allow_change else trained), changes


def _known_filters(s: SetInput, as_of: datetime) -> list[tuple[str, str, Any]]:
    join = s.join
    filters: list[tuple[str, str, Any]] = [(join.event_timestamp, "<=", as_of)]
    return filters + ([(join.created_timestamp, "<=", as_of)] if join.created_timestamp else [])


def _newest_known(s: SetInput, as_of: datetime) -> datetime | None:
    """The newest event time of the set's rows known at ``as_of``."""
    import pyarrow.compute as pc

    filters = _known_filters(s, as_of)
    times = tables.to_arrow(s.table, columns=[s.join.event_timestamp], filters=filters, version=s.version)
    newest = pc.max(times.column(0)).as_py() if times.num_rows else None
    if newest is not None and newest.tzinfo is None:
        newest = newest.replace(tzinfo=timezone.utc)
    return newest


# Delta truncates timestamp statistics to milliseconds: a recorded bound is within this of the real value.
_STATS_PRECISION = timedelta(milliseconds=1)


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _fresh_by_stats(s: SetInput, as_of: datetime, since: datetime) -> bool:
    """Whether the Delta log alone proves a row with event time in [since, as_of] known at ``as_of``.

    A file whose every row was known by ``as_of`` and whose oldest or newest event time lies
    in the window holds such a row (that oldest or newest one). Anything else is left to a read.
    """
    event, known = s.join.event_timestamp, s.join.created_timestamp
    for f in tables.file_ranges(s.table, [event, *([known] if known else [])], s.version):
        if not f["rows"]:
            continue
        latest_known = _utc(f["max"][known]) if known else None
        if known and (latest_known is None or latest_known + _STATS_PRECISION > as_of):
            continue
        for bound in (_utc(f["min"][event]), _utc(f["max"][event])):
            if bound is not None and since <= bound and bound + _STATS_PRECISION <= as_of:
                return True
    return False


def _check_fresh(subject: str, s: SetInput, as_of: datetime, limit: timedelta | None) -> None:
    """The set has a row known at ``as_of`` no older than ``limit`` (its TTL unless the model sets one)."""
    limit = limit if limit is not None else s.join.ttl
    if limit is None:
        return
    if _fresh_by_stats(s, as_of, as_of - limit):
        return
    recent = _known_filters(s, as_of) + [(s.join.event_timestamp, ">=", as_of - limit)]
    if tables.to_arrow(s.table, columns=[s.join.event_timestamp], filters=recent, version=s.version, limit=1).num_rows:
        return  # one row recent enough: the whole column is read only to say how stale a stale set is
    newest = _newest_known(s, as_of)
    what = f"feature set '{s.join.name}' (fs:{s.join.name}@v{s.version})"
    fix = (
        f"ingest fresh data (mlp features ingest {s.join.name}), score an earlier --run-date/--as-of, "
        "or raise max_staleness for the model in conf/scoring.yaml"
    )
    if newest is None:
        raise FeatureError(f"{subject}: {what} has no row known at {as_of.isoformat()}", fix)
    lag = as_of - newest
    if lag > limit:
        raise FeatureError(
            f"{subject}: {what} is stale at {as_of.isoformat()}: its newest row is from {newest.isoformat()}, "
            f"{lag / timedelta(days=1):.1f} days old, beyond the {format_duration(limit)} allowed (most entities "
            "would get nulls)",
            fix,
        )


def _key_types(regs: dict[str, registry.Registered], keys: list[str]) -> dict[str, str]:
    """Declared type of each entity key, from the feature sets that have it."""
    types: dict[str, str] = {}
    for reg in regs.values():
        for column in reg.definition.entities:
            types.setdefault(column.name, column.type)
    return {k: types[k] for k in keys}


def _explicit_population(subject: str, entities: EntityTable, keys: list[str], types: dict[str, str]) -> "pa.Table":
    have = {c.name: c for c in tables.describe(entities.uri).columns}
    missing = [k for k in keys if k not in have]
    if missing:
        raise FeatureError(
            f"{subject}: entity table {entities.id} has no key column {', '.join(map(repr, missing))}",
            f"its columns: {', '.join(have)}; the model's features are keyed by {', '.join(keys)}",
        )
    sample = tables.to_arrow(entities.uri, columns=keys, version=entities.version, limit=0)
    for key in keys:
        if key_family(sample.schema.field(key).type) != _DECLARED_FAMILY.get(types[key], types[key]):
            raise FeatureError(
                f"{subject}: key column '{key}' of entity table {entities.id} is {sample.schema.field(key).type}, "
                f"the feature sets declare it {types[key]}",
                f"cast '{key}' to {types[key]} in the entity table",
            )
    return tables.to_arrow(entities.uri, columns=keys, version=entities.version, where=entities.where, distinct=True)


def population_sets(sets: list[SetInput], keys: list[str]) -> list[SetInput]:
    """The feature sets that define the default population: keyed like the model and bounded by a TTL.

    A set without a TTL (static attributes such as a customer profile) keeps every entity it
    ever saw, so it would make every churned or closed entity "active" forever; such sets
    count only when no set keyed like the model has a TTL.
    """
    keyed = [s for s in sets if sorted(s.join.keys) == sorted(keys)]
    bounded = [s for s in keyed if s.join.ttl is not None]
    return bounded or keyed


def _default_population(subject: str, sets: list[SetInput], keys: list[str], as_of: datetime) -> "pa.Table":
    """Every entity with a row within its TTL, known at ``as_of``, in a TTL-bound feature set keyed like the model."""
    import pyarrow as pa

    chosen = population_sets(sets, keys)
    if not chosen:
        raise FeatureError(
            f"{subject}: none of its feature sets is keyed by exactly {', '.join(keys)}, so there is no default "
            "population",
            "pass --entities TABLE (or entities: in conf/scoring.yaml) with the key columns",
        )
    log.info(
        "%s: default population from %s (entities with a row within the TTL)",
        subject,
        ", ".join(f"fs:{s.join.name}@v{s.version}" for s in chosen),
    )
    parts = [
        tables.to_arrow(s.table, columns=keys, filters=_window(s, as_of), version=s.version, distinct=True)
        for s in chosen
    ]
    union = pa.concat_tables([p.cast(parts[0].schema) for p in parts])
    return union.group_by(keys).aggregate([]).select(keys)


def _window(s: SetInput, as_of: datetime) -> list[tuple[str, str, Any]]:
    """Filters keeping the rows the join can match at ``as_of``: known by then, within the TTL."""
    join = s.join
    out: list[tuple[str, str, Any]] = [(join.event_timestamp, "<=", as_of)]
    if join.ttl is not None:
        out.append((join.event_timestamp, ">=", as_of - join.ttl))
    if join.created_timestamp:
        out.append((join.created_timestamp, "<=", as_of))
    return out


def _population(
    subject: str,
    entities: EntityTable | None,
    sets: list[SetInput],
    keys: list[str],
    types: dict[str, str],
    as_of: datetime,
) -> "pa.Table":
    """The distinct entity keys to score: from the entity table, else every entity within TTL; never empty."""
    if entities is not None:
        population = _explicit_population(subject, entities, keys, types)
    else:
        population = _default_population(subject, sets, keys, as_of)
    if population.num_rows == 0:
        where = entities.id + (f" where {entities.where}" if entities.where else "") if entities else "its feature sets"
        raise FeatureError(
            f"{subject}: no entity to score at {as_of.isoformat()} in {where}",
            "check the entity table and its filter, or the as-of time (--run-date/--as-of)",
        )
    return population


def plan(
    settings: Settings,
    manifest: Mapping[str, Any],
    as_of: datetime,
    subject: str,
    entities: EntityTable | None = None,
    allow_definition_change: bool = False,
    max_staleness: Mapping[str, timedelta] | timedelta | None = None,
) -> ScoringSetPlan:
    """Resolve and check the scoring set of a model trained on the training set of ``manifest``.

    Args:
        settings: platform settings.
        manifest: the training-set manifest (``features.trainset_manifest``) of the model's training set.
        as_of: when the features are looked up (timezone-aware; naive means UTC).
        subject: the model, for messages (``model churn@3``).
        entities: the population; default every entity of the model's feature sets within TTL.
        allow_definition_change: read a feature set whose definition changed since training.
        max_staleness: how old a set's newest row may be (per set name, or one for all); default its TTL.

    Raises:
        FeatureError: a changed definition (not allowed), a stale feature set, an entity table
            without the key columns or with mistyped keys, an empty population.
    """
    as_of = as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc)
    spec = TrainingSetSpec.model_validate(manifest["spec"])
    trained, regs, changes = _definitions(
        subject, spec, settings, manifest.get("features", {}), allow_definition_change
    )
    columns = selected_columns(spec, trained)
    keys = entity_keys(spec, list(regs.values()))
    outputs = [*keys, AS_OF]
    sets = [set_input(settings, spec, regs[name], keys, None, columns[name], outputs) for name in regs]
    for s in sets:
        limit = max_staleness.get(s.join.name) if isinstance(max_staleness, Mapping) else max_staleness
        _check_fresh(subject, s, as_of, limit)
    population = _population(subject, entities, sets, keys, _key_types(regs, keys), as_of)
    for change in changes:
        log.warning("scoring anyway (--allow-definition-change): %s", change)
    log.info(
        "scoring set of %s at %s: %d entities, %d features from %s",
        subject,
        as_of.isoformat(),
        population.num_rows,
        len(outputs) - len(keys) - 1,
        ", ".join(f"fs:{s.join.name}@v{s.version}" for s in sets),
    )
    return ScoringSetPlan(
        subject=subject,
        trainset_id=str(manifest.get("id", "")),
        keys=keys,
        as_of=as_of,
        sets=sets,
        output_columns=outputs,
        entities=entities,
        population=population,
        definition_changes=changes,
    )


def _labels(p: ScoringSetPlan) -> "pa.Table":
    import pyarrow as pa

    stamp = pa.array([p.as_of] * p.population.num_rows, type=pa.timestamp("us", tz="UTC"))
    return p.population.append_column(AS_OF, stamp)


def choose_engine(p: ScoringSetPlan) -> str:
    """``pandas`` when the feature tables are small enough to join in memory, else ``spark``."""
    return engine_for([(s.table, s.version) for s in p.sets], extra_rows=p.population.num_rows)


def build(p: ScoringSetPlan, engine: str = "auto", spark: "SparkSession | None" = None) -> "pa.Table | DataFrame":
    """The scoring set's rows: an Arrow table (``pandas`` engine) or a Spark DataFrame (``spark``).

    Only rows the join can match are read from each feature table (known at the as-of time, within TTL).
    """
    engine = choose_engine(p) if engine == "auto" else engine
    if engine == "pandas":
        inputs = [
            (s.join, tables.to_arrow(s.table, columns=s.join.needed(), filters=_window(s, p.as_of), version=s.version))
            for s in p.sets
        ]
        return join_arrow(_labels(p), AS_OF, inputs).select(p.output_columns)
    if spark is None:
        raise FeatureError(f"the scoring set of {p.subject} is built on Spark but no session was given", "pass spark=")
    from pyspark.sql import functions as F

    labels = spark.createDataFrame(_labels(p))
    inputs = []
    for s in p.sets:
        frame = tables.read(spark, s.table, version=s.version, columns=s.join.needed())
        for column, op, value in _window(s, p.as_of):
            frame = frame.where(F.col(column) <= F.lit(value) if op == "<=" else F.col(column) >= F.lit(value))
        inputs.append((s.join, frame))
    return join_spark(labels, AS_OF, inputs).select(*p.output_columns)
