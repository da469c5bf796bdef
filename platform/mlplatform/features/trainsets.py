"""Training sets: point-in-time joins of a label source with feature sets, versioned on Delta.

A build resolves the spec (feature references, the Delta version of every feature
table and of the label table), checks it, picks an engine, joins, and writes the
rows as a new version of ``<warehouse>/training_sets/<name>`` whose commit
metadata holds the manifest: spec and its hash, every input table version
(``fs:<set>@v<n>``), label source version, time range, row count. A rebuild from
a manifest reads exactly those versions, so it returns the same rows after the
feature tables received new data.

Engines (same rows either way, tested): ``pandas`` reads the inputs with
deltalake into Arrow and joins in process (no JVM); ``spark`` joins with a window
per feature set. ``auto`` takes the in-process engine when the inputs fit
comfortably in memory (:data:`AUTO_MAX_BYTES` of Parquet, :data:`AUTO_MAX_ROWS` rows),
where it is the fastest on one machine, and Spark otherwise.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mlplatform import tables
from mlplatform.config import Settings, load_settings
from mlplatform.errors import FeatureError
from mlplatform.features import registry
from mlplatform.features.definitions import (
    TrainingSetSpec,
    load_trainset_spec,
    parse_time,
)
from mlplatform.features.ingestion import feature_table
from mlplatform.features.pit import JoinInput, join_arrow, join_spark
from mlplatform.launch.jobrun import JobResult
from mlplatform.launch.session import session
from mlplatform.tables.manifests import TRAINSET_KEY, trainset_manifests, trainset_uri

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "AUTO_MAX_BYTES",
    "AUTO_MAX_ROWS",
    "BuildResult",
    "Plan",
    "plan",
    "choose_engine",
    "engine_for",
    "SetInput",
    "entity_keys",
    "registered_sets",
    "selected_columns",
    "set_input",
    "build",
    "rebuild",
    "trainset_manifest",
    "read_trainset",
    "trainset_versions",
    "canonical",
    "same_rows",
    "build_job",
]

log = logging.getLogger(__name__)

AUTO_MAX_BYTES = 2 << 30  # Parquet bytes read; ~5-10x that in memory
AUTO_MAX_ROWS = 200_000_000


@dataclass(frozen=True)
class SetInput:
    """One feature set as read by a build."""

    join: JoinInput
    table: str
    version: int
    revision: int
    definition_hash: str


def _stats_columns(p: "Plan", uri: str) -> list[str] | None:
    """A new training set's file statistics: keys, label time and labels (the features gain nothing from them)."""
    return None if tables.exists(uri) else list(p.label_columns)


@dataclass(frozen=True)
class Plan:
    """Everything a build reads, resolved and checked, before any data moves."""

    spec: TrainingSetSpec
    label_table: str
    label_version: int
    label_columns: list[str]
    sets: list[SetInput]
    output_columns: list[str]

    def manifest(self, engine: str, rows: int, start: str | None, end: str | None) -> dict[str, Any]:
        """The manifest stored with the training-set commit."""
        return {
            "name": self.spec.name,
            "spec": self.spec.model_dump(mode="json"),
            "spec_hash": self.spec.digest(),
            "engine": engine,
            "features": {
                s.join.name: {
                    "id": f"fs:{s.join.name}@v{s.version}",
                    "table": s.table,
                    "version": s.version,
                    "revision": s.revision,
                    "definition_hash": s.definition_hash,
                    "columns": [c for c, _ in s.join.columns],
                }
                for s in self.sets
            },
            "labels": {"table": self.label_table, "version": self.label_version, "columns": self.label_columns},
            "time_range": {"start": start, "end": end},
            "row_count": rows,
            "columns": self.output_columns,
            "built_at": datetime.now(timezone.utc).isoformat(),
        }


@dataclass(frozen=True)
class BuildResult:
    """A built training set: its id, where it is, what went in."""

    name: str
    version: int
    rows: int
    engine: str
    seconds: float
    manifest: dict[str, Any] = field(repr=False)

    @property
    def id(self) -> str:
        return f"ts:{self.name}@v{self.version}"


def entity_keys(spec: TrainingSetSpec, sets: list[registry.Registered]) -> list[str]:
    """The entity keys of a training set: its labels' keys when declared, else every feature set's keys."""
    if spec.labels.keys:
        return list(spec.labels.keys)
    return list(dict.fromkeys(k for reg in sets for k in reg.definition.keys))


def plan(settings: Settings, spec: TrainingSetSpec, manifest: dict[str, Any] | None = None) -> Plan:
    """Resolve and check a spec (or a manifest's exact inputs); FeatureError before any data is read.

    Checks: every referenced set registered and ingested, every referenced feature
    declared, pins only for referenced sets, each set's keys among the label keys,
    the label table holding its declared columns, no output column named twice.
    """
    pinned = _checked_pins(spec)
    recorded = (manifest or {}).get("features", {})
    regs = registered_sets(settings, spec, recorded)
    columns = selected_columns(spec, regs)
    label_keys = entity_keys(spec, list(regs.values()))
    label_table, label_version, label_columns = _label_input(settings, spec, label_keys, manifest)
    sets, outputs = [], list(label_columns)
    for name, reg in regs.items():
        version = recorded[name]["version"] if name in recorded else pinned.get(name)
        sets.append(set_input(settings, spec, reg, label_keys, version, columns[name], outputs))
    return Plan(
        spec=spec,
        label_table=label_table,
        label_version=label_version,
        label_columns=label_columns,
        sets=sets,
        output_columns=outputs,
    )


def _checked_pins(spec: TrainingSetSpec) -> dict[str, int]:
    """The spec's pinned feature-set versions; each must be of a set the spec references."""
    pinned = dict(spec.pins)
    unknown_pins = sorted(set(pinned) - set(spec.feature_sets()))
    if unknown_pins:
        raise FeatureError(
            f"training set '{spec.name}' pins feature set(s) it does not reference: {', '.join(unknown_pins)}",
            "remove the pin or reference a feature of the set",
        )
    return pinned


def registered_sets(
    settings: Settings, spec: TrainingSetSpec, recorded: dict[str, Any]
) -> dict[str, registry.Registered]:
    """The registered revision of every referenced feature set (the manifest's revision when ``recorded``)."""
    regs: dict[str, registry.Registered] = {}
    for name in spec.feature_sets():
        try:
            regs[name] = registry.get(settings, name, recorded[name]["revision"] if name in recorded else None)
        except FeatureError as exc:
            refs = [str(r) for r in spec.refs() if r.feature_set == name]
            raise FeatureError(f"training set '{spec.name}', reference {refs[0]}: {exc.message}", exc.hint) from exc
    return regs


def selected_columns(spec: TrainingSetSpec, regs: dict[str, registry.Registered]) -> dict[str, list[tuple[str, str]]]:
    """Per feature set, the (feature, output column) pairs the spec's references select."""
    columns: dict[str, list[tuple[str, str]]] = {name: [] for name in regs}
    for ref in spec.refs():
        definition = regs[ref.feature_set].definition
        if ref.feature == "*":
            columns[ref.feature_set] += [(f, f) for f in definition.feature_names]
        else:
            try:
                definition.feature(ref.feature)
            except FeatureError as exc:
                raise FeatureError(f"training set '{spec.name}', reference {ref}: {exc.message}", exc.hint) from exc
            columns[ref.feature_set].append((ref.feature, ref.alias or ref.feature))
    return columns


def _label_input(
    settings: Settings, spec: TrainingSetSpec, label_keys: list[str], manifest: dict[str, Any] | None
) -> tuple[str, int, list[str]]:
    """The label table, the version to read (the manifest's, the spec's or the latest) and its columns to read."""
    labels = spec.labels
    label_columns = list(dict.fromkeys(label_keys + [labels.event_timestamp] + labels.label))
    label_table = tables.resolve_name(settings, labels.table)
    if not tables.exists(label_table):
        raise FeatureError(
            f"training set '{spec.name}': label table '{labels.table}' does not exist ({label_table})",
            "create it, or point labels.table at an existing Delta table",
        )
    label_version = (manifest or {}).get("labels", {}).get("version", labels.version)
    label_version = tables.version(label_table) if label_version is None else int(label_version)
    have = [c.name for c in tables.describe(label_table).columns]
    missing = [c for c in label_columns if c not in have]
    if missing:
        raise FeatureError(
            f"training set '{spec.name}': label table '{labels.table}' has no column "
            f"{', '.join(repr(c) for c in missing)}",
            f"its columns: {', '.join(have)}",
        )
    return label_table, label_version, label_columns


def set_input(
    settings: Settings,
    spec: TrainingSetSpec,
    reg: registry.Registered,
    label_keys: list[str],
    version: int | None,
    columns: list[tuple[str, str]],
    outputs: list[str],
) -> SetInput:
    """How one feature set is read: its table at ``version`` (default latest); appends its columns to ``outputs``."""
    name, definition = reg.name, reg.definition
    absent = [k for k in definition.keys if k not in label_keys]
    if absent:
        raise FeatureError(
            f"training set '{spec.name}': feature set '{name}' is keyed by "
            f"{', '.join(absent)}, which the labels do not carry",
            f"add {', '.join(absent)} to labels.keys and the label table",
        )
    uri = feature_table(settings, name)
    if not tables.exists(uri):
        raise FeatureError(
            f"feature set '{name}' has no table yet ({uri})", f"ingest it first: `mlp features ingest {name}`"
        )
    version = tables.version(uri) if version is None else int(version)
    for column, out in columns:
        if out in outputs:
            raise FeatureError(
                f"training set '{spec.name}': output column '{out}' (feature set '{name}', "
                f"column '{column}') is already taken",
                f"rename it with '{name}:{column} as other_name'",
            )
        outputs.append(out)
    join = JoinInput(
        name=name,
        keys=tuple(definition.keys),
        event_timestamp=definition.event_timestamp,
        created_timestamp=definition.created_timestamp,
        ttl=definition.ttl_delta,
        columns=tuple(columns),
    )
    return SetInput(join=join, table=uri, version=version, revision=reg.revision, definition_hash=reg.definition_hash)


def choose_engine(p: Plan) -> str:
    """``pandas`` when the inputs are small enough to join in memory, else ``spark``."""
    return engine_for([(p.label_table, p.label_version)] + [(s.table, s.version) for s in p.sets])


def engine_for(inputs: list[tuple[str, int]], extra_rows: int = 0) -> str:
    """``pandas`` when ``inputs`` (tables at versions) plus ``extra_rows`` fit comfortably in memory, else ``spark``."""
    size, rows = 0, extra_rows
    for table, _version in inputs:
        info = tables.describe(table)  # latest version: close enough to size the job
        size += info.size_bytes
        rows += info.num_rows
    engine = "pandas" if size <= AUTO_MAX_BYTES and rows <= AUTO_MAX_ROWS else "spark"
    log.info("engine auto: %d rows, %.0f MB of Parquet -> %s", rows, size / 1e6, engine)
    return engine


def _time_filter(spec: TrainingSetSpec) -> tuple[datetime | None, datetime | None]:
    return parse_time(spec.labels.start), parse_time(spec.labels.end)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "tzinfo") and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


# --------------------------------------------------------------------------- engines


def _labels_arrow(p: Plan) -> "pa.Table":
    import pyarrow as pa
    import pyarrow.compute as pc

    labels = tables.to_arrow(p.label_table, columns=p.label_columns, version=p.label_version)
    ts = p.spec.labels.event_timestamp
    start, end = _time_filter(p.spec)
    column = labels.column(ts)
    if start or end:
        typ = column.type if pa.types.is_timestamp(column.type) else pa.timestamp("us", tz="UTC")
        keep = None
        for bound, op in ((start, pc.greater_equal), (end, pc.less)):
            if bound is not None:
                scalar = pa.scalar(bound if typ.tz else bound.replace(tzinfo=None), type=typ)
                test = op(pc.cast(column, typ), scalar)
                keep = test if keep is None else pc.and_(keep, test)
        labels = labels.filter(keep)
    return labels


def _run_pandas(p: Plan) -> "pa.Table":
    labels = _labels_arrow(p)
    inputs = [(s.join, tables.to_arrow(s.table, columns=s.join.needed(), version=s.version)) for s in p.sets]
    return join_arrow(labels, p.spec.labels.event_timestamp, inputs).select(p.output_columns)


def _labels_spark(spark: "SparkSession", p: Plan) -> "DataFrame":
    from pyspark.sql import functions as F

    labels = tables.read(spark, p.label_table, version=p.label_version, columns=p.label_columns)
    ts = F.col(p.spec.labels.event_timestamp)
    start, end = _time_filter(p.spec)
    if start is not None:
        labels = labels.where(ts >= F.lit(start))
    if end is not None:
        labels = labels.where(ts < F.lit(end))
    return labels


def _run_spark(spark: "SparkSession", p: Plan) -> "DataFrame":
    labels = _labels_spark(spark, p)
    inputs = [(s.join, tables.read(spark, s.table, version=s.version, columns=s.join.needed())) for s in p.sets]
    return join_spark(labels, p.spec.labels.event_timestamp, inputs).select(*p.output_columns)


def _check_label_times(spec: TrainingSetSpec, rows: int, nulls: int) -> None:
    if nulls:
        raise FeatureError(
            f"training set '{spec.name}': {nulls} label row(s) with null '{spec.labels.event_timestamp}'",
            "drop or fill them in the label table; every label needs a time",
        )
    if rows == 0:
        raise FeatureError(
            f"training set '{spec.name}': no label rows in the time range",
            "check labels.start / labels.end and the label table",
        )


# --------------------------------------------------------------------------- build


def build(
    spec: TrainingSetSpec | str,
    settings: Settings | None = None,
    engine: str | None = None,
    spark: "SparkSession | None" = None,
    manifest: dict[str, Any] | None = None,
    write: bool = True,
) -> BuildResult | "pd.DataFrame":
    """Build a training set and write it as a new version (or, with ``write=False``, return its rows).

    Args:
        spec: a :class:`TrainingSetSpec`, a spec name in ``conf/trainsets/`` or a path.
        settings: platform settings (default: :func:`load_settings`).
        engine: ``auto``, ``pandas`` or ``spark`` (default: the spec's).
        spark: the session for the Spark engine (default: :func:`mlplatform.launch.session.session`).
        manifest: read exactly the inputs recorded there (see :func:`rebuild`).
        write: False returns the rows as pandas (typed as :func:`read_trainset` returns them)
            without committing anything.
    """

    settings = settings or load_settings()
    spec = spec if isinstance(spec, TrainingSetSpec) else load_trainset_spec(spec)
    started = time.perf_counter()
    p = plan(settings, spec, manifest)
    engine = engine or spec.engine
    if engine not in ("auto", "pandas", "spark"):
        raise FeatureError(f"training set '{spec.name}': unknown engine '{engine}'", "use auto, pandas or spark")
    if engine == "auto":
        engine = choose_engine(p)
    uri = trainset_uri(settings, spec.name)
    ts = spec.labels.event_timestamp

    if engine == "pandas":
        import pyarrow.compute as pc

        out = _run_pandas(p)
        _check_label_times(spec, out.num_rows, out.column(ts).null_count)
        bounds = pc.min_max(out.column(ts))
        manifest_out = p.manifest(engine, out.num_rows, _iso(bounds["min"].as_py()), _iso(bounds["max"].as_py()))
        if not write:
            return out.to_pandas()  # as read_trainset returns it
        version = tables.write_pandas(
            _nullable_pandas(out),
            uri,
            mode="overwrite",
            merge_schema=True,
            metadata={TRAINSET_KEY: manifest_out},
            stats_columns=_stats_columns(p, uri),
        )
        rows = out.num_rows
    else:
        from pyspark.sql import functions as F

        if spark is None:
            spark = session(settings=settings, app_name=f"mlp-trainset-{spec.name}")
        stats = (
            _labels_spark(spark, p)
            .select(
                F.count(F.lit(1)).alias("rows"),
                F.sum(F.col(ts).isNull().cast("long")).alias("nulls"),
                F.min(ts).alias("start"),
                F.max(ts).alias("end"),
            )
            .first()
        )
        rows = int(stats["rows"])
        _check_label_times(spec, rows, int(stats["nulls"] or 0))
        frame = _run_spark(spark, p)
        manifest_out = p.manifest(engine, rows, _iso(stats["start"]), _iso(stats["end"]))
        if not write:
            return frame.toArrow().to_pandas()
        version = tables.write(
            frame,
            uri,
            mode="overwrite",
            merge_schema=True,
            metadata={TRAINSET_KEY: manifest_out},
            stats_columns=_stats_columns(p, uri),
        )
    seconds = time.perf_counter() - started
    log.info("built ts:%s@v%d: %d rows with %s in %.1fs", spec.name, version, rows, engine, seconds)
    return BuildResult(
        name=spec.name, version=int(version), rows=rows, engine=engine, seconds=seconds, manifest=manifest_out
    )


def _nullable_pandas(table: "pa.Table") -> "pd.DataFrame":
    """Arrow -> pandas keeping integer and boolean columns with nulls as integers/booleans."""
    import pandas as pd
    import pyarrow as pa

    mapping = {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
        pa.string(): pd.StringDtype(),
        pa.large_string(): pd.StringDtype(),
    }
    return table.to_pandas(types_mapper=mapping.get)


def canonical(frame: "pd.DataFrame", columns: list[str]) -> "pd.DataFrame":
    """Rows in a comparable form: numbers as nullable floats, text as strings, sorted by every column."""
    import pandas as pd

    out = frame[list(columns)].copy()
    for column in columns:
        series = out[column]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            out[column] = series.astype("Float64")
        elif pd.api.types.is_datetime64_any_dtype(series):
            out[column] = pd.to_datetime(series, utc=True).astype("datetime64[us, UTC]")
        else:
            out[column] = series.astype("string")
    return out.sort_values(list(columns)).reset_index(drop=True)


def same_rows(a: "pd.DataFrame", b: "pd.DataFrame", columns: list[str]) -> bool:
    """Whether two frames hold the same rows (as multisets) in ``columns``, whatever their order and dtypes."""
    return len(a) == len(b) and canonical(a, columns).equals(canonical(b, columns))


def rebuild(
    name: str,
    version: int | None = None,
    settings: Settings | None = None,
    engine: str | None = None,
    spark: "SparkSession | None" = None,
    write: bool = False,
) -> BuildResult | "pd.DataFrame":
    """Re-run the build recorded in ``ts:<name>@v<version>``'s manifest: same spec, same input versions."""
    settings = settings or load_settings()
    manifest = trainset_manifest(name, version, settings=settings)
    spec = TrainingSetSpec(**manifest["spec"])
    if spec.digest() != manifest["spec_hash"]:
        raise FeatureError(
            f"training set {manifest['id']}: the recorded spec does not match its hash",
            "the manifest was altered; rebuild from the spec file instead",
        )
    return build(spec, settings, engine=engine or manifest.get("engine"), spark=spark, manifest=manifest, write=write)


# --------------------------------------------------------------------------- reading


def trainset_versions(name: str, settings: Settings | None = None) -> list[dict[str, Any]]:
    """The manifests of every version of a training set, oldest first (with ``id`` and ``version``)."""
    settings = settings or load_settings()
    uri = trainset_uri(settings, name)
    if not tables.exists(uri):
        raise FeatureError(
            f"training set '{name}' has not been built ({uri})", f"build it: `mlp trainset build {name}`"
        )
    return trainset_manifests(settings, name)


def trainset_manifest(name: str, version: int | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """The manifest of ``ts:<name>@v<version>`` (default: the latest version).

    Keys: ``id``, ``version``, ``name``, ``spec``, ``spec_hash``, ``engine``,
    ``features`` (set -> ``id``, ``table``, ``version``, ``revision``, ``definition_hash``,
    ``columns``), ``labels`` (``table``, ``version``, ``columns``), ``time_range``
    (``start``, ``end``), ``row_count``, ``columns``, ``built_at``, ``committed_at``.
    """
    versions = trainset_versions(name, settings)
    if version is None:
        if not versions:
            raise FeatureError(
                f"training set '{name}' has no version with a manifest", f"build it: `mlp trainset build {name}`"
            )
        return versions[-1]
    for manifest in versions:
        if manifest["version"] == version:
            return manifest
    known = ", ".join(str(m["version"]) for m in versions) or "none"
    raise FeatureError(f"training set '{name}' has no version {version}", f"versions: {known}")


def read_trainset(
    name: str, version: int | None = None, settings: Settings | None = None, columns: list[str] | None = None
) -> "pd.DataFrame":
    """The rows of ``ts:<name>@v<version>`` (default latest) as pandas, without Spark."""
    settings = settings or load_settings()
    manifest = trainset_manifest(name, version, settings)
    return tables.to_pandas(
        trainset_uri(settings, name), columns=columns or manifest["columns"], version=manifest["version"]
    )


def build_job(spec: str, engine: str | None = None, settings: Settings | None = None) -> JobResult:
    """What ``jobs/build_trainset.py`` does: pick the engine, start Spark only for ``spark``, :func:`build`.

    ``engine`` (default: the spec's) ``auto`` joins in the driver's memory when the inputs are
    small (:func:`choose_engine` on the :func:`plan`), on the cluster otherwise.
    """
    settings = settings or load_settings()
    ts_spec = load_trainset_spec(spec)
    engine = engine or ts_spec.engine
    if engine == "auto":
        engine = choose_engine(plan(settings, ts_spec))
    spark = session(app_name=f"mlp-build-trainset-{ts_spec.name}") if engine == "spark" else None
    result = build(ts_spec, settings, engine=engine, spark=spark)
    line = f"{result.id}: {result.rows} rows with {result.engine} in {result.seconds:.1f}s"
    summary = {"id": result.id, "rows": result.rows, "engine": result.engine, "seconds": result.seconds}
    return JobResult(lines=(line,), summary=summary)
