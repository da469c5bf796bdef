"""Batch scoring on Spark: a registered model over a Delta table, into a versioned scores table.

One call of :func:`score`:

1. resolves ``MODEL@ALIAS|VERSION`` in the registry and downloads its MLflow directory;
2. pins the input table's current Delta version and reads exactly that version;
3. checks the input columns and types against the model signature (no task runs yet);
4. ships ``model.pkl`` with ``SparkContext.addFile`` and runs one small *probe* task
   in the model's environment on a few sample rows: the model loads, accepts the
   input, and reports its output types (and the input is not empty);
5. scores every row with ``mapInArrow`` (:mod:`mlplatform.scoring.arrow_scorer`);
6. replaces the run date's partition of ``<warehouse>/scores/<model>`` in one Delta
   commit (``replaceWhere``): a failed or killed run commits nothing and leaves the
   previous result; re-running a run date replaces it; Spark's task retries (a lost
   executor) add no rows because only successful task attempts are committed;
7. records lineage edges model version / environment / input table version -> scores.

Null features: the probe asks the model, column by column, whether it scores a row
with that feature null (NaN for numbers, None otherwise). Rows with nulls only in
such columns are scored (HistGradientBoosting, imputing pipelines); a null in any
other feature column refuses the whole run with a :class:`ScoringError` naming each
such column and its null count, and nothing is committed.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from mlplatform import dates, files, lineage, tables
from mlplatform.config import Settings
from mlplatform.envs.shipping import ENV_ID_CONF
from mlplatform.errors import PlatformError, ScoringError, error_line
from mlplatform.features.definitions import features_dir, load_feature_set
from mlplatform.scoring.arrow_scorer import (
    NULL_MARKER,
    PROBE_SAMPLE_ROWS,
    ScorerSpec,
    probe,
    score_batches,
)
from mlplatform.tracking import model_registry

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


__all__ = [
    "InputTable",
    "ScoreResult",
    "ScoringPlan",
    "OUTPUT_COLUMNS",
    "plan",
    "plan_frame",
    "score",
    "commit_scores",
    "check_session_env",
    "arrow_batch_size",
    "resolve_input",
    "check_columns",
    "scores_uri",
    "parse_run_date",
    "batch_rows",
]

log = logging.getLogger(__name__)

# Columns every scores table has besides the entity keys, prediction and probability.
OUTPUT_COLUMNS = (
    "model_name",
    "model_version",
    "env_id",
    "input_table",
    "input_version",
    "scoring_run_id",
    "scored_at",
    "run_date",
)
_RESERVED = {"prediction", "probability", *OUTPUT_COLUMNS}

# MLflow column-signature type -> Spark types accepted for it, and the cast applied.
_NUMERIC = {"double", "float", "bigint", "int", "smallint", "tinyint"}
_ACCEPTED: dict[str, tuple[set[str], str | None]] = {
    "double": (_NUMERIC | {"decimal"}, "double"),
    "float": (_NUMERIC | {"decimal"}, "double"),
    "long": ({"bigint", "int", "smallint", "tinyint"}, "bigint"),
    "integer": ({"int", "smallint", "tinyint"}, "int"),
    "boolean": ({"boolean"}, None),
    "string": ({"string"}, None),
    "binary": ({"binary"}, None),
    "datetime": ({"timestamp", "timestamp_ntz", "date"}, None),
}

# Feature data per Arrow batch handed to the model (rows = this / (8 bytes * features)).
_BATCH_BYTES = 32 << 20
_MAX_BATCH_ROWS = 50_000
_MIN_BATCH_ROWS = 1_000

_INPUT_NAME = re.compile(r"^(?:(?:fs|features):)?(?P<name>[A-Za-z0-9_][A-Za-z0-9_.\-]*)(?:@v(?P<version>\d+))?$")


@dataclass(frozen=True)
class InputTable:
    """The table a run scores, pinned to one Delta version.

    Attributes:
        id: lineage id, ``fs:<name>@v<n>`` for a feature set, ``delta:<uri>@v<n>`` otherwise.
        uri: table location.
        version: the Delta version read (None for rows built by the run itself, e.g. a scoring set).
        keys: entity key columns declared by the feature set (empty for plain tables).
    """

    id: str
    uri: str
    version: int | None
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoreResult:
    """What a scoring run wrote, and where the model ran (``worker``: the probe task's report)."""

    model: str
    model_version: int
    env_id: str | None
    input_id: str
    run_date: str
    run_id: str
    table: str
    table_version: int
    rows: int
    seconds: float
    columns: tuple[str, ...] = ()
    worker: dict[str, Any] = field(default_factory=dict, compare=False)  # the probe task's interpreter and packages
    as_of: str | None = None  # scoring from the feature repository: when the features were looked up
    scoring_set_version: int | None = None  # ... and the version of scoring_sets/<model> holding them
    drift: str | None = None  # ... and the drift status against the version's reference profile (ok | warn | alert)

    @property
    def scores_id(self) -> str:
        return f"scores:{self.model}@v{self.table_version}"

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "scores_id": self.scores_id}, sort_keys=True)


def parse_run_date(text: str | date | None) -> date:
    """``YYYY-MM-DD`` (default: today, UTC) as a date; ScoringError otherwise."""
    return dates.parse_run_date(text, ScoringError)


def scores_uri(settings: Settings, model_name: str) -> str:
    """``<warehouse>/scores/<model>``."""

    return tables.table_uri(settings, "scores", model_name)


def resolve_input(settings: Settings, text: str, version: int | None = None) -> InputTable:
    """The table to score, pinned to a Delta version.

    ``text`` is a feature set (``NAME``, ``fs:NAME``, ``fs:NAME@v3``), a table in the
    warehouse (``training_sets/churn``), or a Delta table path/URI. Without a version
    the table's current version is taken, so the run reads a snapshot that later
    ingestion cannot change under it.
    """

    match = _INPUT_NAME.match(text)
    if match is None and not text.strip():
        raise ScoringError(
            "input is empty", "pass NAME, fs:NAME@vN, a warehouse table such as training_sets/churn, or a path/URI"
        )
    if match is not None:
        uri = tables.table_uri(settings, "features", match.group("name"))
        version = int(match.group("version")) if match.group("version") else version
        keys = _feature_set_keys(match.group("name"))
    else:
        uri = tables.resolve_name(settings, text)
        keys = ()
    if not tables.exists(uri):
        hint = (
            "ingest the feature set first ('mlp features ingest NAME')"
            if match
            else "check the path; it must be a Delta table"
        )
        raise ScoringError(f"input table {uri} does not exist", hint)
    current = tables.version(uri)
    if version is not None and not 0 <= version <= current:
        raise ScoringError(f"input table {uri} has no version {version}", f"its versions go from 0 to {current}")
    pinned = current if version is None else version
    return InputTable(id=f"{_lineage_prefix(settings, uri)}@v{pinned}", uri=uri, version=pinned, keys=keys)


def _lineage_prefix(settings: Settings, uri: str) -> str:
    """``fs:<name>`` / ``ts:<name>`` for feature sets and training sets of the warehouse, else ``delta:<uri>``."""

    for area, prefix in (("features", "fs"), ("training_sets", "ts")):
        root = tables.table_uri(settings, area, "x")[:-1]
        name = uri[len(root) :] if uri.startswith(root) else ""
        if name and "/" not in name:
            return f"{prefix}:{name}"
    return f"delta:{uri}"


def _feature_set_keys(name: str) -> tuple[str, ...]:
    """Entity keys of ``conf/features/<name>.yaml`` when the definition exists."""

    path = features_dir() / f"{name}.yaml"
    if not path.is_file():
        return ()
    return tuple(c.name for c in load_feature_set(path).entities)


def _spark_type(simple: str) -> str:
    base = simple.split("(", 1)[0]
    return {"long": "bigint", "integer": "int", "short": "smallint", "byte": "tinyint"}.get(base, base)


def check_columns(
    input_types: Sequence[tuple[str, str]],
    signature: Sequence[dict[str, Any]],
    keys: Sequence[str] | None,
    model_id: str,
    input_id: str,
) -> tuple[list[str], list[str], dict[str, str]]:
    """Check the input's (column, Spark type) pairs against the model's column signature.

    Returns:
        (features in signature order, key columns, casts {column: spark type}).

    Raises:
        ScoringError: naming every missing or mistyped column (with the type found
            and the type expected), or a key column that is missing or collides with
            an output column.
    """
    types = {name: _spark_type(t) for name, t in input_types}
    features = [str(c["name"]) for c in signature]
    unnamed = [c for c in signature if not c.get("name")]
    if unnamed:
        raise ScoringError(
            f"{model_id} has a signature without column names", "log the model with a pandas input example"
        )
    missing = [f for f in features if f not in types]
    wrong: list[str] = []
    casts: dict[str, str] = {}
    for column in signature:
        name, expected = str(column["name"]), str(column.get("type"))
        if name not in types:
            continue
        accepted, cast = _ACCEPTED.get(expected, ({expected}, None))
        found = types[name]
        if found not in accepted:
            wrong.append(f"{name} is {found}, the model expects {expected}")
        elif cast and found != cast:
            casts[name] = cast
    problems = []
    if missing:
        problems.append(f"missing feature column(s) {', '.join(missing)}")
    if wrong:
        problems.append("; ".join(wrong))
    if problems:
        available = ", ".join(f"{n}:{t}" for n, t in input_types)
        raise ScoringError(
            f"input {input_id} does not match the signature of {model_id}: " + "; ".join(problems),
            f"the input has {available}; select, rename or cast the columns (or pick another input)",
        )
    if keys is None or not keys:
        keys = [name for name, _ in input_types if name not in features] if keys is None else []
    unknown = [k for k in keys if k not in types]
    if unknown:
        raise ScoringError(
            f"key column(s) {', '.join(unknown)} not in input {input_id}", f"the input has {', '.join(types)}"
        )
    clashing = sorted(set(keys) & _RESERVED)
    if clashing:
        raise ScoringError(
            f"key column(s) {', '.join(clashing)} of input {input_id} clash with scores table columns",
            "rename them in the input or pass other --keys",
        )
    return features, list(keys), casts


def batch_rows(n_features: int) -> int:
    """Rows per Arrow batch: about 32 MB of float64 features, between 1,000 and 50,000 rows.

    Past 10k rows per batch the rows per second stop growing (scripts/bench/batch_scoring.py).
    """
    return max(_MIN_BATCH_ROWS, min(_MAX_BATCH_ROWS, _BATCH_BYTES // (8 * max(1, n_features))))


def _fetch_model(settings: Settings, info: model_registry.ModelVersionInfo) -> tuple[Path, Path, str]:
    """The model directory (downloaded once per version) and its ``model.pkl`` under a content-named copy.

    The cache is keyed by the version's MLflow run as well as its number: a registry that was
    reset (or replaced) reuses version numbers for other models.

    Returns (model directory, file to ship with ``addFile``, sha256 of ``model.pkl``).
    """
    cache = Path(settings.home) / "cache" / "models" / info.name / f"{info.version}-{info.run_id or 'norun'}"
    model_dir = cache / model_registry.MODEL_ARTIFACT
    if not (model_dir / model_registry.MODEL_PICKLE).is_file():
        with files.replacing(model_dir, folder=True) as staging:
            model_registry.download(info, staging, settings)
            if not (staging / model_registry.MODEL_PICKLE).is_file():
                raise ScoringError(
                    f"{info.id} has no {model_registry.MODEL_PICKLE} in its model directory",
                    "register models in the platform format (mlflow.sklearn, serialization_format='cloudpickle')",
                )
            shutil.rmtree(model_dir, ignore_errors=True)  # an earlier download that did not finish
    model_registry.verify_dir(info, model_dir, settings)  # before anything is shipped to executors
    sha = files.sha256_file(model_dir / model_registry.MODEL_PICKLE)
    shipped = cache / f"mlp-model-{sha[:16]}.pkl"
    if not shipped.is_file():
        with files.replacing(shipped) as partial:
            shutil.copyfile(model_dir / model_registry.MODEL_PICKLE, partial)
    return model_dir, shipped, sha


def verified_model(settings: Settings, info: model_registry.ModelVersionInfo) -> Path:
    """The version's model directory in the local cache, checked against its signature (no JVM).

    Raises:
        SignatureError: (``verify: enforce``) the directory is unsigned, signed by an unknown key or altered.
    """
    return _fetch_model(settings, info)[0]


def check_session_env(spark: "SparkSession", info: model_registry.ModelVersionInfo) -> None:
    """The session's workers must run the model's environment when both are known."""

    shipped = spark.conf.get(ENV_ID_CONF, None)
    if info.env_id and shipped and shipped != info.env_id:
        raise ScoringError(
            f"{info.id} needs {info.env_id} but this Spark session ships {shipped}",
            f"run it with 'mlp score' or 'mlp submit --env {info.env_id} score ...'",
        )
    if not shipped:
        log.warning(
            "%s: this session ships no environment (%s wanted); scoring in the workers' own Python",
            info.id,
            info.env_id or "the model records none",
        )


def _run_probe(frame: "DataFrame", spec: ScorerSpec, model_id: str, input_id: str) -> dict[str, Any]:
    """Probe the model on the first few input rows in one task of one Spark job.

    The task reads the input's partitions in turn until it has the rows (Delta's limit pushdown
    keeps it to the first file when there is no ``where``); the sample stays in the executor,
    with no second job taking rows to the driver and back. An empty input is the probe's own
    report (``sample_rows`` 0).
    """
    rows = frame.coalesce(1).limit(PROBE_SAMPLE_ROWS).mapInArrow(partial(probe, spec=spec), "info string").collect()
    info = json.loads(rows[0]["info"]) if rows else {"sample_rows": 0}  # no partition at all: no rows either
    if info.get("sample_rows") == 0:
        raise ScoringError(f"input {input_id} has no rows to score", "check the input table, its version and --where")
    if "error" in info:
        raise ScoringError(
            f"{model_id} cannot score input {input_id} in its environment: {info['error']}",
            "check the model's environment and the input's values (the sample rows failed)",
        )
    return info


def _final_spec(spec: ScorerSpec, info: dict[str, Any]) -> ScorerSpec:
    classes = info.get("classes")
    return replace(
        spec,
        features=tuple(info.get("features") or spec.features),
        input_mode=info.get("input_mode", "pandas"),
        proba=info.get("proba", "none"),
        predict_from_proba=bool(info.get("predict_from_proba")),
        decision_threshold=info.get("decision_threshold"),
        prediction_type=info.get("prediction_type", "double"),
        classes=tuple(classes) if classes is not None else None,
        nullable=tuple(info.get("nullable") or ()),
    )


def _output_schema(frame: "DataFrame", spec: ScorerSpec) -> str:
    from pyspark.sql.types import StructType

    kinds = {"bool": "boolean", "int64": "bigint", "double": "double", "string": "string"}
    fields = [frame.schema[k] for k in spec.keys]
    parts = [f"`{f.name}` {f.dataType.simpleString()}" for f in fields]
    parts.append(f"prediction {kinds[spec.prediction_type]}")
    if spec.proba == "binary":
        parts.append("probability double")
    elif spec.proba == "multiclass":
        parts.append("probability array<double>")
    StructType.fromDDL(", ".join(parts))  # fail here, not inside a task, if a type does not round-trip
    return ", ".join(parts)


def _null_error(frame: "DataFrame", spec: ScorerSpec, model_id: str, input_id: str, estimator: str) -> ScoringError:
    from pyspark.sql import functions as F

    refused = [f for f in spec.features if f not in spec.nullable]
    counts = frame.select([F.sum(F.col(f).isNull().cast("long")).alias(f) for f in refused]).first()
    found = {f: int(counts[f] or 0) for f in refused if counts[f]}
    listed = ", ".join(f"{k}: {v}" for k, v in found.items()) or "(in the rows scored)"
    return ScoringError(
        f"input {input_id} has null values in feature column(s) {listed}, and {model_id} ({estimator}) does not accept "
        "missing values there; nothing was written",
        "fill or filter those rows (e.g. --where 'col IS NOT NULL'), or score with a model that accepts NaN",
    )


def _failure(exc: Exception, model_id: str, input_id: str) -> ScoringError:
    cause = error_line(exc, r"^[A-Za-z_.]*(Error|Exception):", last=True, limit=500)
    return ScoringError(
        f"scoring {model_id} on {input_id} failed, nothing was written: {cause}",
        "see the Spark executor log for the full trace; re-run the same run date when fixed",
    )


@dataclass(frozen=True)
class ScoringPlan:
    """A checked and probed scoring run, not executed yet: ``frame`` computes the rows to write.

    Attributes:
        frame: keys, prediction, probability and the run's constant columns (run_date last).
        selected: the input rows and columns the model sees (after ``where`` and casts).
        info: the resolved model version.
        source: the pinned input table.
        spec: what each Python worker needs to score.
        sample: the probe task's report (worker interpreter and packages, model traits).
        batch_rows: rows per Arrow batch for this model's feature count.
    """

    frame: Any
    selected: Any
    info: model_registry.ModelVersionInfo
    source: InputTable
    spec: ScorerSpec
    sample: dict[str, Any]
    run_id: str
    run_date: date
    table: str
    batch_rows: int


@contextmanager
def _session_conf(spark: "SparkSession", values: dict[str, str]) -> Iterator[None]:
    """Set runtime SQL settings for the actions inside, then restore them."""
    previous = {key: spark.conf.get(key, None) for key in values}
    for key, value in values.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def arrow_batch_size(spark: "SparkSession", rows: int) -> Any:
    """Context manager: Spark actions inside hand ``rows`` rows per Arrow batch to Python."""
    return _session_conf(spark, {"spark.sql.execution.arrow.maxRecordsPerBatch": str(rows)})


def _write_conf(run: ScoringPlan) -> dict[str, str]:
    """Arrow batch size, no per-row replaceWhere check, no Parquet statistics on the run's one-value columns;
    for a new scores table, file statistics on the keys only.

    Every row carries the run date as a literal, so Delta's check that each written row
    matches ``replaceWhere`` cannot fail (it cost ~6% of the write's CPU). The other columns
    are the prediction and one value per run (model, run id, ...): their min/max per file
    skip nothing readers ask for (a run date is a partition, an entity a key); on the
    prediction and probability they cost ~10% of the write's CPU. Parquet's own min/max of
    the one-value columns (the run date too: Delta writes it into the files as well), per row
    group and page, cost ~5% more; a filter on them still finds its rows (each file holds one value).
    """

    conf = {
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(run.batch_rows),
        "spark.databricks.delta.replaceWhere.constraintCheck.enabled": "false",
        **{f"parquet.column.statistics.enabled#{c}": "false" for c in OUTPUT_COLUMNS},
    }
    if not tables.exists(run.table):
        if run.spec.keys:
            conf["spark.databricks.delta.properties.defaults.dataSkippingStatsColumns"] = tables.stats_columns_value(
                run.spec.keys
            )
        else:
            conf["spark.databricks.delta.properties.defaults.dataSkippingNumIndexedCols"] = "0"
    return conf


def plan(
    spark: "SparkSession",
    settings: Settings,
    model: str,
    input: str,
    run_date: str | date | None = None,
    keys: Sequence[str] | None = None,
    where: str | None = None,
    input_version: int | None = None,
    run_id: str | None = None,
) -> ScoringPlan:
    """Resolve, check and probe a scoring run (see :func:`score` for the arguments); nothing is written.

    The only Spark work is reading a few sample rows and one probe task in the
    model's environment.
    """
    day = parse_run_date(run_date)
    info = model_registry.resolve(model, settings)
    check_session_env(spark, info)
    source = resolve_input(settings, input, input_version)
    frame = tables.read(spark, source.uri, version=source.version)
    if where:
        frame = frame.where(where)
    wanted_keys = list(keys) if keys else (list(source.keys) or None)
    return plan_frame(spark, settings, info, frame, source, day, wanted_keys, run_id)


def plan_frame(
    spark: "SparkSession",
    settings: Settings,
    info: model_registry.ModelVersionInfo,
    frame: "DataFrame",
    source: InputTable,
    day: date,
    wanted_keys: Sequence[str] | None,
    run_id: str | None = None,
) -> ScoringPlan:
    """Check ``frame`` against the signature of ``info`` and probe the model on it; nothing is written.

    ``source`` names where the rows come from (lineage and the scores' input columns); ``wanted_keys``
    are the columns copied next to each prediction (default: every column that is not a feature).
    """
    from pyspark.sql import functions as F

    run_id = run_id or f"score-{day:%Y%m%d}-{uuid.uuid4().hex[:12]}"
    model_dir, pickle_path, sha = _fetch_model(settings, info)
    signature = model_registry.input_schema(model_dir)
    features, key_cols, casts = check_columns(
        [(f.name, f.dataType.simpleString()) for f in frame.schema.fields],
        signature,
        list(wanted_keys) if wanted_keys else None,
        info.id,
        source.id,
    )
    log.info(
        "input %s matches the signature of %s: %d feature(s), key(s) %s",
        source.id,
        info.id,
        len(features),
        ", ".join(key_cols) or "none",
    )
    selected = frame.select(
        *[F.col(k) for k in key_cols], *[F.col(f).cast(casts[f]).alias(f) if f in casts else F.col(f) for f in features]
    )
    spark.sparkContext.addFile(str(pickle_path))
    spec = ScorerSpec(
        model_file=pickle_path.name,
        model_sha256=sha,
        features=tuple(features),
        keys=tuple(key_cols),
        threads=int(spark.conf.get("spark.task.cpus", "1") or 1),
    )

    sample = _run_probe(selected, spec, info.id, source.id)
    spec = _final_spec(spec, sample)
    worker = sample.get("worker", {})
    log.info(
        "%s loads in %s (python %s) as %s; %s input, %s output",
        info.id,
        worker.get("prefix"),
        worker.get("python"),
        sample.get("estimator"),
        spec.input_mode,
        spec.proba if spec.proba != "none" else "prediction-only",
    )

    scored_at = datetime.now(timezone.utc).replace(microsecond=0)
    scored = selected.mapInArrow(partial(score_batches, spec=spec), _output_schema(selected, spec))
    out = scored.select(
        "*",
        F.lit(info.name).alias("model_name"),
        F.lit(info.version).cast("int").alias("model_version"),
        F.lit(info.env_id).cast("string").alias("env_id"),
        F.lit(source.uri).alias("input_table"),
        F.lit(source.version).cast("long").alias("input_version"),
        F.lit(run_id).alias("scoring_run_id"),
        F.lit(scored_at).cast("timestamp").alias("scored_at"),
        F.lit(day).cast("date").alias("run_date"),
    )
    return ScoringPlan(
        out,
        selected,
        info,
        source,
        spec,
        sample,
        run_id,
        day,
        scores_uri(settings, info.name),
        batch_rows(len(features)),
    )


def score(
    spark: "SparkSession",
    settings: Settings,
    model: str,
    input: str,
    run_date: str | date | None = None,
    keys: Sequence[str] | None = None,
    where: str | None = None,
    input_version: int | None = None,
    run_id: str | None = None,
) -> ScoreResult:
    """Score ``input`` with ``model`` and replace the run date's partition of its scores table.

    Args:
        spark: the session; its Python workers should run the model's environment
            (``spark.session(env=...)`` or ``mlp submit --env``; ``jobs/score.py`` does it).
        settings: platform settings.
        model: ``NAME@ALIAS`` or ``NAME@VERSION`` (no selector: the champion).
        input: a feature-set name (``churn_features``, ``fs:churn_features@v3``) or a Delta table path/URI.
        run_date: the partition to replace, ``YYYY-MM-DD`` (default: today, UTC).
        keys: columns copied next to each prediction. Default: the feature set's
            entity keys, else every input column that is not a feature.
        where: optional Spark SQL filter on the input rows.
        input_version: read this Delta version of the input (default: the current one).
        run_id: id of this scoring run (default: a new one).

    Returns:
        The :class:`ScoreResult` (scores table version, rows written, ...).

    Raises:
        ModelError: unknown model or alias (lists the registered versions and aliases).
        ScoringError: input missing, empty, not matching the signature, null features
            the model does not accept, or a failed job — in every case nothing is written.
    """

    started = time.monotonic()
    run = plan(
        spark, settings, model, input, run_date, keys=keys, where=where, input_version=input_version, run_id=run_id
    )
    result = commit_scores(spark, run, started)
    info = run.info
    edges = [lineage.Edge(info.id, "model", result.scores_id), lineage.Edge(run.source.id, "input", result.scores_id)]
    if info.env_id:
        edges.append(lineage.Edge(info.env_id, "environment", result.scores_id))
    lineage.record(
        settings,
        edges,
        action="score",
        job_run=run.run_id,
        details={
            "run_date": result.run_date,
            "rows": result.rows,
            "table_version": result.table_version,
            "seconds": result.seconds,
        },
    )
    log.info(
        "scored %s on %s: %d rows -> %s (run date %s, %s, %.1f s)",
        info.id,
        run.source.id,
        result.rows,
        result.scores_id,
        result.run_date,
        run.run_id,
        result.seconds,
    )
    return result


def commit_scores(
    spark: "SparkSession", run: ScoringPlan, started: float, metadata: Mapping[str, Any] | None = None
) -> ScoreResult:
    """Score every row of a planned run and replace its run date's partition of the scores table, in one commit.

    ``metadata`` goes into the commit next to the run's own (job, run id, model, input, run date, env).

    Raises:
        ScoringError: null features the model does not accept, or a failed job; nothing is written.
    """
    info, source, day = run.info, run.source, run.run_date
    metadata = {
        "job": "score",
        "run_id": run.run_id,
        "model": info.id,
        "input": source.id,
        "run_date": day.isoformat(),
        "env_id": info.env_id or "",
        **(metadata or {}),
    }
    try:
        with _session_conf(spark, _write_conf(run)):
            version = tables.write(
                run.frame,
                run.table,
                mode="overwrite",
                replace_where=f"run_date = '{day.isoformat()}'",
                partition_by=["run_date"],
                metadata=metadata,
            )
    except PlatformError:
        raise
    except Exception as exc:  # noqa: BLE001 - Spark raises Py4J/PySpark errors of many kinds
        if NULL_MARKER in str(exc):
            raise _null_error(run.selected, run.spec, info.id, source.id, str(run.sample.get("estimator"))) from exc
        raise _failure(exc, info.id, source.id) from exc
    rows = tables.written_rows(run.table, version)
    return ScoreResult(
        model=info.name,
        model_version=info.version,
        env_id=info.env_id,
        input_id=source.id,
        run_date=day.isoformat(),
        run_id=run.run_id,
        table=run.table,
        table_version=version,
        rows=rows,
        seconds=round(time.monotonic() - started, 3),
        columns=tuple(run.frame.columns),
        worker=run.sample.get("worker", {}),
    )
