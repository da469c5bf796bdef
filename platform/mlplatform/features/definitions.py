"""Feature-set definitions and training-set specs: the YAML files users write.

A feature set (``conf/features/<name>.yaml``) names its entity keys, its
event-timestamp column, optionally a created/ingested timestamp (for the
as-of-known-time cutoff), its features with types, where its rows come from
(a table, or named tables passed to a Python function) and a time-to-live for
point-in-time lookups. A training-set spec (``conf/trainsets/<name>.yaml``)
names a label source and feature references ``set:feature``.

Both are pydantic models with ``extra="forbid"``: a typo in a key is an error
naming the file and the key.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from importlib import import_module
from pathlib import Path
from typing import Annotated, Any, Callable, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mlplatform.config import conf_dir
from mlplatform.errors import FeatureError
from mlplatform.specfiles import StrictModel, problems, read_mapping

__all__ = [
    "FEATURE_TYPES",
    "Column",
    "Feature",
    "Source",
    "FeatureSetDef",
    "LabelSource",
    "TrainingSetSpec",
    "FeatureRef",
    "parse_duration",
    "format_duration",
    "parse_time",
    "spec_hash",
    "load_feature_set",
    "load_feature_sets",
    "load_trainset_spec",
    "features_dir",
    "trainsets_dir",
    "resolve_function",
]

# Declared type -> (Arrow type name, Spark SQL type name).
FEATURE_TYPES: dict[str, tuple[str, str]] = {
    "int32": ("int32", "int"),
    "int64": ("int64", "bigint"),
    "float32": ("float", "float"),
    "float64": ("double", "double"),
    "bool": ("bool", "boolean"),
    "string": ("string", "string"),
    "date": ("date32", "date"),
    "timestamp": ("timestamp[us, tz=UTC]", "timestamp"),
}
_TYPE_ALIASES = {
    "int": "int32",
    "long": "int64",
    "bigint": "int64",
    "float": "float32",
    "double": "float64",
    "boolean": "bool",
    "str": "string",
}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str | int | None) -> timedelta | None:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"45s"``, ``"2w"`` -> timedelta; ``None``/``"none"`` -> no limit."""
    if text is None or (isinstance(text, str) and text.strip().lower() in ("", "none", "null")):
        return None
    if isinstance(text, int):
        return timedelta(seconds=text)
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a duration such as 30d, 12h, 90m, 45s or 2w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def format_duration(value: timedelta | None) -> str:
    """The inverse of :func:`parse_duration` for display ("30d", "36h", "none")."""
    if value is None:
        return "none"
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_time(value: str | datetime | None) -> datetime | None:
    """An ISO date or timestamp as an aware UTC datetime (naive values are taken as UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"'{value}' is not an ISO date or timestamp (2024-03-01 or 2024-03-01T12:00:00)") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"name '{value}' must be a letter or _ followed by letters, digits or _")
    return value


Name = Annotated[str, AfterValidator(_check_name)]


class Column(StrictModel):
    """An entity key column and its type."""

    name: Name = Field(description="Column name.")
    type: str = Field("int64", description=f"One of {', '.join(FEATURE_TYPES)}.")

    @field_validator("type")
    @classmethod
    def _type(cls, v: str) -> str:
        v = _TYPE_ALIASES.get(v, v)
        if v not in FEATURE_TYPES:
            raise ValueError(f"unknown type '{v}'; use one of {', '.join(FEATURE_TYPES)}")
        return v


class Feature(Column):
    """One feature: a typed column of the feature set."""

    type: str = Field("float64", description=f"One of {', '.join(FEATURE_TYPES)}.")
    description: str = Field("", description="What the value means, for discovery.")


class Source(StrictModel):
    """Where a feature set's rows come from.

    Either ``table`` (one table; a path relative to the warehouse, an absolute
    path or a URI) or ``tables`` (several, by argument name). With ``transform``
    (``module:function``) the tables are passed to the function as keyword
    arguments of Spark DataFrames (``source`` for a single ``table``) and it
    returns the rows.
    """

    table: str | None = Field(None, description="A Delta table: warehouse-relative path, absolute path or URI.")
    tables: dict[str, str] = Field(default_factory=dict, description="Named input tables for the transform.")
    transform: str | None = Field(None, description="module:function returning a Spark DataFrame.")

    @model_validator(mode="after")
    def _one_source(self) -> "Source":
        if bool(self.table) == bool(self.tables):
            raise ValueError("give exactly one of 'table' or 'tables'")
        if self.tables and not self.transform:
            raise ValueError("'tables' needs a 'transform' (module:function) that combines them")
        if self.transform and ":" not in self.transform:
            raise ValueError(f"transform '{self.transform}' must be 'module:function'")
        return self

    def inputs(self) -> dict[str, str]:
        """Argument name -> table location."""
        return {"source": self.table} if self.table else dict(self.tables)


class FeatureSetDef(StrictModel):
    """A feature-set definition (``conf/features/<name>.yaml``)."""

    name: Name = Field(description="Feature-set name; also the table name under <warehouse>/features/.")
    description: str = Field(description="What the set holds, for discovery.")
    owner: str = Field(description="Who to ask about it.")
    tags: list[str] = Field(default_factory=list, description="Free-form tags for search.")
    entities: list[Column] = Field(description="Entity key columns (the join keys).")
    event_timestamp: str = Field(description="Column holding when the values became true.")
    created_timestamp: str | None = Field(
        None, description="Column holding when the row became known; enables the as-of-known-time cutoff."
    )
    ttl: str | None = Field("none", description="How old a value may be at lookup time (30d, 12h, none).")
    source: Source = Field(description="Where the rows come from.")
    features: list[Feature] = Field(description="The features, with types.")
    mode: Literal["merge", "append", "overwrite"] = Field(
        "merge", description="Ingestion: merge on (keys, event time), append new rows, or overwrite."
    )

    @field_validator("ttl", mode="before")
    @classmethod
    def _ttl(cls, v: Any) -> str:
        return format_duration(parse_duration(v))

    @model_validator(mode="after")
    def _columns(self) -> "FeatureSetDef":
        if not self.entities:
            raise ValueError("declare at least one entity key")
        if not self.features:
            raise ValueError("declare at least one feature")
        names = [c.name for c in self.entities] + [self.event_timestamp]
        names += [self.created_timestamp] if self.created_timestamp else []
        names += [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"column(s) declared twice: {', '.join(dupes)}")
        return self

    @property
    def keys(self) -> list[str]:
        return [c.name for c in self.entities]

    @property
    def ttl_delta(self) -> timedelta | None:
        return parse_duration(self.ttl)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> Feature:
        """The declared feature ``name``; FeatureError naming the set when it is not declared."""
        for feature in self.features:
            if feature.name == name:
                return feature
        raise FeatureError(
            f"feature set '{self.name}' has no feature '{name}'",
            f"its features are: {', '.join(self.feature_names)}",
        )

    def column_types(self) -> dict[str, str]:
        """Every stored column -> declared type, in table order."""
        types = {c.name: c.type for c in self.entities}
        types[self.event_timestamp] = "timestamp"
        if self.created_timestamp:
            types[self.created_timestamp] = "timestamp"
        types.update({f.name: f.type for f in self.features})
        return types

    def digest(self) -> str:
        """sha256 of the normalized definition (changes when anything in it changes)."""
        return spec_hash(self.model_dump(mode="json"))


class LabelSource(StrictModel):
    """The entity rows of a training set: keys, a timestamp and labels."""

    table: str = Field(description="Delta table with the label rows (warehouse-relative path or URI).")
    event_timestamp: str = Field(description="The label time: features must be known by then.")
    keys: list[str] | None = Field(None, description="Entity key columns (default: the keys of the feature sets).")
    label: list[str] = Field(default_factory=list, description="Label column(s) carried into the training set.")
    version: int | None = Field(None, description="Pin the label table to this Delta version.")
    start: str | None = Field(None, description="Keep label rows at or after this time (ISO).")
    end: str | None = Field(None, description="Keep label rows before this time (ISO).")

    @field_validator("label", mode="before")
    @classmethod
    def _label(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("start", "end")
    @classmethod
    def _time(cls, v: str | None) -> str | None:
        parsed = parse_time(v)
        return parsed.isoformat() if parsed else None


class FeatureRef(StrictModel):
    """``set:feature`` or ``set:*``, with an optional ``as alias``."""

    feature_set: str
    feature: str
    alias: str | None = None

    @classmethod
    def parse(cls, text: str) -> "FeatureRef":
        match = re.match(r"^\s*([A-Za-z_]\w*)\s*:\s*(\*|[A-Za-z_]\w*)\s*(?:\bas\s+([A-Za-z_]\w*))?\s*$", text)
        if not match:
            raise ValueError(f"feature reference '{text}' must look like set:feature, set:* or 'set:feature as name'")
        if match.group(2) == "*" and match.group(3):
            raise ValueError(f"feature reference '{text}': set:* cannot take an alias")
        return cls(feature_set=match.group(1), feature=match.group(2), alias=match.group(3))

    def __str__(self) -> str:
        return f"{self.feature_set}:{self.feature}" + (f" as {self.alias}" if self.alias else "")


class TrainingSetSpec(StrictModel):
    """A training-set spec (``conf/trainsets/<name>.yaml``)."""

    name: Name = Field(description="Training-set name; also the table name under <warehouse>/training_sets/.")
    description: str = Field("", description="What the training set is for.")
    labels: LabelSource = Field(description="The entity rows with label times and labels.")
    features: list[str] = Field(description="Feature references: set:feature, set:* or 'set:feature as name'.")
    pins: dict[str, int] = Field(default_factory=dict, description="feature set -> Delta version to read.")
    engine: Literal["auto", "pandas", "spark"] = Field("auto", description="Point-in-time join engine.")

    @field_validator("features")
    @classmethod
    def _refs(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("reference at least one feature (set:feature)")
        for text in v:
            FeatureRef.parse(text)
        return v

    def refs(self) -> list[FeatureRef]:
        return [FeatureRef.parse(text) for text in self.features]

    def feature_sets(self) -> list[str]:
        """Referenced feature-set names, in first-reference order."""
        return list(dict.fromkeys(r.feature_set for r in self.refs()))

    def digest(self) -> str:
        """sha256 of the normalized spec; the engine does not change the rows, so it is left out."""
        return spec_hash(self.model_dump(mode="json", exclude={"engine"}))


def spec_hash(data: Any) -> str:
    """sha256 of canonical JSON."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def features_dir() -> Path:
    return conf_dir() / "features"


def trainsets_dir() -> Path:
    return conf_dir() / "trainsets"


def _load_yaml(path: Path, model: type[StrictModel], what: str) -> Any:
    if not path.is_file():
        raise FeatureError(f"{what} file {path} does not exist", "create it or pass an existing file")
    data = read_mapping(path, FeatureError, what)
    try:
        return model(**data)
    except ValidationError as exc:
        known = ", ".join(model.model_fields)
        raise FeatureError(f"{what} {path}: {problems(exc)}", f"top-level keys are: {known}") from exc


def load_feature_set(path: str | Path) -> FeatureSetDef:
    """Parse and validate one feature-set definition file."""
    path = Path(path)
    definition = _load_yaml(path, FeatureSetDef, "feature set")
    if definition.name != path.stem:
        raise FeatureError(
            f"feature set file {path} defines name '{definition.name}'", f"rename the file to {definition.name}.yaml"
        )
    return definition


def load_feature_sets(folder: str | Path | None = None) -> list[FeatureSetDef]:
    """Every ``*.yaml`` in ``conf/features/`` (files starting with ``_`` are not definitions)."""
    folder = Path(folder) if folder else features_dir()
    return [load_feature_set(p) for p in sorted(folder.glob("*.yaml")) if not p.name.startswith("_")]


def load_trainset_spec(name_or_path: str | Path) -> TrainingSetSpec:
    """A spec by name (``conf/trainsets/<name>.yaml``) or by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = trainsets_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in trainsets_dir().glob("*.yaml"))) or "none"
            raise FeatureError(
                f"training-set spec '{name_or_path}' not found at {path}", f"specs in conf/trainsets/: {known}"
            )
    return _load_yaml(path, TrainingSetSpec, "training-set spec")


def resolve_function(dotted: str, owner: str) -> Callable[..., Any]:
    """Import ``module:function``; FeatureError naming ``owner`` when it cannot be found."""
    module_name, _, attr = dotted.partition(":")
    try:
        module = import_module(module_name)
    except ImportError as exc:
        raise FeatureError(
            f"{owner}: cannot import module '{module_name}' of transform '{dotted}': {exc}",
            "check the module path and that it is installed",
        ) from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise FeatureError(f"{owner}: module '{module_name}' has no function '{attr}'", "check the transform name")
    return fn
