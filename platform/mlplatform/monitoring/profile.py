"""A reference profile: what each feature and each model output looked like in the data a model version learned from.

Per column (a feature, the prediction, a class probability) a :class:`ColumnProfile` holds
its kind, row and null counts, and the bins drift is measured on:

- numeric: min and max of the values; bin edges from the reference quantiles (``bins``
  quantiles, 10 by default, taken with numpy's ``"lower"`` method so every inner edge is a
  reference value, deduplicated so that discrete data gets fewer bins), outer edges -inf and
  +inf (so every bin but the top one holds reference values; the top one is empty when the
  highest edge is the maximum, as for a constant column); the reference count per bin; a
  uniform random sample of up to ``sample_size`` finite values (all of them when there are
  fewer) for an exact two-sample Kolmogorov-Smirnov test of small scored batches;
- categorical: the ``top_k`` (20 by default) most frequent categories with their counts
  (ties by name), then one "other" count; up to ``max_seen`` further category names, so
  that values never seen in the reference can be told from rare ones.

Bins are right-closed (see :mod:`mlplatform.monitoring.stats`). A :class:`Profile` is
JSON-serialisable (:meth:`Profile.to_dict` / :meth:`Profile.from_dict`, infinite edges as
the strings ``"-inf"`` / ``"inf"``) and carries :data:`FORMAT_VERSION`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from mlplatform.errors import MonitoringError
from mlplatform.monitoring.frames import (
    CATEGORICAL,
    FEATURE,
    NUMERIC,
    as_pandas,
    category_counts,
    column_kind,
    numeric_values,
    output_columns,
)
from mlplatform.monitoring.stats import numeric_bin_counts

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "FORMAT_VERSION",
    "DEFAULT_BINS",
    "DEFAULT_TOP_K",
    "DEFAULT_SAMPLE_SIZE",
    "DEFAULT_MAX_SEEN",
    "ColumnProfile",
    "Profile",
    "build_profile",
    "profile_column",
]

FORMAT_VERSION = 1
DEFAULT_BINS = 10
DEFAULT_TOP_K = 20
DEFAULT_SAMPLE_SIZE = 1000
DEFAULT_MAX_SEEN = 1000


@dataclass(frozen=True)
class ColumnProfile:
    """The reference distribution of one column.

    Attributes:
        name: the column (feature name, ``prediction``, ``probability`` or ``probability_<class>``).
        kind: ``numeric`` or ``categorical``.
        role: ``feature``, ``prediction`` or ``probability``.
        rows: rows profiled; ``nulls``: how many of them were null (NaN, None, NA).
        minimum, maximum: of the non-null values (numeric with values only, else None).
        edges: numeric bin edges, ``-inf`` first and ``+inf`` last (right-closed bins).
        counts: non-null reference values per bin: numeric per bin of ``edges``; categorical
            per category of ``categories``, then the "other" count.
        categories: the most frequent categories (``str`` form), most frequent first.
        seen: further reference categories beyond ``categories`` (up to ``max_seen``);
            ``seen_complete`` is False when the reference had even more.
        sample: numeric: a random sample of the finite reference values, sorted.
    """

    name: str
    kind: str
    role: str
    rows: int
    nulls: int
    minimum: float | None = None
    maximum: float | None = None
    edges: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()
    seen: tuple[str, ...] = ()
    seen_complete: bool = True
    sample: tuple[float, ...] = ()

    @property
    def non_null(self) -> int:
        """Rows with a value."""
        return self.rows - self.nulls

    @property
    def null_rate(self) -> float:
        """Share of null rows (NaN for a profile of no rows)."""
        return self.nulls / self.rows if self.rows else math.nan

    def shares(self) -> "np.ndarray":
        """Each bin's share of the non-null reference values (all zeros when there are none)."""
        from mlplatform.monitoring.stats import shares

        return shares(self.counts)

    def known_categories(self) -> frozenset[str]:
        """Every reference category the profile names (top categories and ``seen``)."""
        return frozenset(self.categories) | frozenset(self.seen)

    def to_dict(self) -> dict[str, Any]:
        """The profile as JSON-serialisable values (infinite edges, bounds and samples as ``"-inf"`` / ``"inf"``)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "role": self.role,
            "rows": self.rows,
            "nulls": self.nulls,
            "min": None if self.minimum is None else _edge_out(self.minimum),
            "max": None if self.maximum is None else _edge_out(self.maximum),
            "edges": [_edge_out(e) for e in self.edges],
            "counts": list(self.counts),
            "categories": list(self.categories),
            "seen": list(self.seen),
            "seen_complete": self.seen_complete,
            "sample": [_edge_out(v) for v in self.sample],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ColumnProfile":
        """The profile :meth:`to_dict` wrote.

        Raises:
            MonitoringError: naming the column when a key is missing or of the wrong kind.
        """
        name = data.get("name", "?")
        try:
            profile = cls(
                name=str(data["name"]),
                kind=str(data["kind"]),
                role=str(data["role"]),
                rows=int(data["rows"]),
                nulls=int(data["nulls"]),
                minimum=None if data.get("min") is None else float(data["min"]),
                maximum=None if data.get("max") is None else float(data["max"]),
                edges=tuple(float(e) for e in data.get("edges", ())),
                counts=tuple(int(c) for c in data.get("counts", ())),
                categories=tuple(str(c) for c in data.get("categories", ())),
                seen=tuple(str(c) for c in data.get("seen", ())),
                seen_complete=bool(data.get("seen_complete", True)),
                sample=tuple(float(v) for v in data.get("sample", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MonitoringError(
                f"stored profile of column {name!r} is malformed: {type(exc).__name__}: {exc}",
                "rebuild the model version's profile (build_profile on its training data)",
            ) from exc
        if profile.kind not in (NUMERIC, CATEGORICAL):
            raise MonitoringError(
                f"stored profile of column {name!r} has kind {profile.kind!r}",
                "rebuild the model version's profile; kinds are numeric and categorical",
            )
        return profile


@dataclass(frozen=True)
class Profile:
    """The reference profile of a model version: one :class:`ColumnProfile` per feature and per output.

    Attributes:
        features: by feature name, in the frame's column order.
        outputs: ``prediction`` and the probability column(s), when given.
        model, version: the model version profiled (None when not yet known).
        created_at: when it was built (ISO 8601, UTC).
        bins, top_k, sample_size, max_seen: the settings it was built with.
        format_version: :data:`FORMAT_VERSION` of the code that built it.
    """

    features: Mapping[str, ColumnProfile]
    outputs: Mapping[str, ColumnProfile] = field(default_factory=dict)
    model: str | None = None
    version: str | None = None
    created_at: str = ""
    bins: int = DEFAULT_BINS
    top_k: int = DEFAULT_TOP_K
    sample_size: int = DEFAULT_SAMPLE_SIZE
    max_seen: int = DEFAULT_MAX_SEEN
    format_version: int = FORMAT_VERSION

    @property
    def rows(self) -> int:
        """Rows of the feature frame profiled (0 without features)."""
        return max((c.rows for c in self.features.values()), default=0)

    @property
    def subject(self) -> str:
        """``model:<name>@<version>`` for messages (``the profile`` when it names no model)."""
        if self.model is None:
            return "the profile"
        return f"model:{self.model}@{self.version}" if self.version is not None else f"model:{self.model}"

    def columns(self) -> list[ColumnProfile]:
        """Features, then outputs."""
        return [*self.features.values(), *self.outputs.values()]

    def with_model(self, model: str, version: str | int) -> "Profile":
        """The same profile naming ``model`` and ``version`` (e.g. once the version is registered)."""
        return replace(self, model=model, version=str(version))

    def to_dict(self) -> dict[str, Any]:
        """The profile as JSON-serialisable values (``json.dumps`` needs no options)."""
        return {
            "format_version": self.format_version,
            "model": self.model,
            "version": self.version,
            "created_at": self.created_at,
            "settings": {
                "bins": self.bins,
                "top_k": self.top_k,
                "sample_size": self.sample_size,
                "max_seen": self.max_seen,
            },
            "features": [c.to_dict() for c in self.features.values()],
            "outputs": [c.to_dict() for c in self.outputs.values()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Profile":
        """The profile :meth:`to_dict` wrote.

        Raises:
            MonitoringError: when the format version is not one this code reads, or a key is missing.
        """
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise MonitoringError(
                f"profile of model {data.get('model')!r} version {data.get('version')!r} has format version "
                f"{version!r}; this platform reads format {FORMAT_VERSION}",
                "upgrade mlplatform to read newer profiles, or rebuild the profile with this one",
            )
        settings = data.get("settings") or {}
        features = [ColumnProfile.from_dict(c) for c in data.get("features", ())]
        outputs = [ColumnProfile.from_dict(c) for c in data.get("outputs", ())]
        return cls(
            features={c.name: c for c in features},
            outputs={c.name: c for c in outputs},
            model=data.get("model"),
            version=None if data.get("version") is None else str(data["version"]),
            created_at=str(data.get("created_at") or ""),
            bins=int(settings.get("bins", DEFAULT_BINS)),
            top_k=int(settings.get("top_k", DEFAULT_TOP_K)),
            sample_size=int(settings.get("sample_size", DEFAULT_SAMPLE_SIZE)),
            max_seen=int(settings.get("max_seen", DEFAULT_MAX_SEEN)),
        )


def _edge_out(edge: float) -> float | str:
    if math.isinf(edge):
        return "inf" if edge > 0 else "-inf"
    return edge


def _check_settings(bins: int, top_k: int, sample_size: int, max_seen: int) -> None:
    for name, value, least in (("bins", bins, 2), ("top_k", top_k, 1), ("sample_size", sample_size, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise MonitoringError(f"profile setting {name}={value!r} is not valid", f"pass an integer >= {least}")
    if isinstance(max_seen, bool) or not isinstance(max_seen, int) or max_seen < 0:
        raise MonitoringError(f"profile setting max_seen={max_seen!r} is not valid", "pass an integer >= 0")


def profile_column(
    values: "pd.Series",
    name: str,
    kind: str,
    role: str = FEATURE,
    bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    max_seen: int = DEFAULT_MAX_SEEN,
    seed: int = 0,
) -> ColumnProfile:
    """The :class:`ColumnProfile` of one column of values, profiled as ``kind``."""
    import numpy as np

    rows = int(len(values))
    if kind == NUMERIC:
        numbers = numeric_values(values, name)
        present = numbers[~np.isnan(numbers)]
        finite = present[np.isfinite(present)]
        edges = _quantile_edges(finite, bins)
        sample = finite
        if finite.size > sample_size:
            sample = np.random.default_rng(seed).choice(finite, size=sample_size, replace=False)
        return ColumnProfile(
            name=name,
            kind=NUMERIC,
            role=role,
            rows=rows,
            nulls=rows - int(present.size),
            minimum=float(present.min()) if present.size else None,
            maximum=float(present.max()) if present.size else None,
            edges=edges,
            counts=tuple(int(c) for c in numeric_bin_counts(present, edges)),
            sample=tuple(float(v) for v in np.sort(sample)),
        )
    counts = category_counts(values)
    ordered = sorted(counts.items(), key=lambda item: (-int(item[1]), item[0]))
    top = ordered[:top_k]
    rest = ordered[top_k:]
    non_null = int(counts.sum())
    return ColumnProfile(
        name=name,
        kind=CATEGORICAL,
        role=role,
        rows=rows,
        nulls=rows - non_null,
        counts=(*(int(c) for _, c in top), non_null - sum(int(c) for _, c in top)),
        categories=tuple(str(k) for k, _ in top),
        seen=tuple(str(k) for k, _ in rest[:max_seen]),
        seen_complete=len(rest) <= max_seen,
    )


def _quantile_edges(finite: "np.ndarray", bins: int) -> tuple[float, ...]:
    """``-inf``, the distinct reference quantiles at ``1/bins ... (bins-1)/bins`` (method "lower"), ``+inf``."""
    import numpy as np

    if finite.size == 0:
        return (-math.inf, math.inf)
    levels = np.arange(1, bins) / bins
    inner = np.unique(np.quantile(finite, levels, method="lower"))
    return (-math.inf, *(float(e) for e in inner), math.inf)


def build_profile(
    features: Any,
    predictions: Any = None,
    probabilities: Any = None,
    *,
    model: str | None = None,
    version: str | int | None = None,
    categorical: Sequence[str] = (),
    exclude: Sequence[str] = (),
    bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    max_seen: int = DEFAULT_MAX_SEEN,
    seed: int = 0,
) -> Profile:
    """The reference profile of a feature frame and, optionally, the model's outputs on it (or on a held-out split).

    Args:
        features: the features the model learned from: a pandas DataFrame or a pyarrow Table,
            one column per feature (keys and labels left out by the caller, or via ``exclude``).
        predictions: the model's predictions (1-D); numeric for a regressor, categorical for
            class labels (by dtype: strings and booleans are categorical).
        probabilities: positive-class probabilities (1-D) or one column per class (2-D array,
            DataFrame or pyarrow Table); need not have as many rows as ``features``.
        model, version: the model version the profile belongs to.
        categorical: numeric columns to profile as categories (e.g. integer codes).
        exclude: columns of ``features`` to leave out.
        bins: quantile bins per numeric column; ``top_k``: categories kept per categorical one.
        sample_size: reference values kept per numeric column for the KS test.
        max_seen: further category names kept for the unseen-category share.
        seed: of the random sample (the same data and seed give the same profile).

    Raises:
        MonitoringError: naming the column or setting when one cannot be profiled.
    """
    _check_settings(bins, top_k, sample_size, max_seen)
    frame = as_pandas(features, "the feature frame to profile")
    names = [str(c) for c in frame.columns]
    missing = [c for c in [*categorical, *exclude] if c not in names]
    if missing:
        raise MonitoringError(
            f"column(s) {missing} named in categorical=/exclude= are not in the feature frame",
            f"its columns are: {', '.join(names)}",
        )
    settings = dict(bins=bins, top_k=top_k, sample_size=sample_size, max_seen=max_seen, seed=seed)
    profiled: dict[str, ColumnProfile] = {}
    for column, name in zip(frame.columns, names):
        if name in exclude:
            continue
        series = frame[column]
        kind = CATEGORICAL if name in categorical else column_kind(series, name)
        profiled[name] = profile_column(series, name, kind, FEATURE, **settings)
    outputs = {
        name: profile_column(series, name, column_kind(series, name), role, **settings)
        for name, (role, series) in output_columns(predictions, probabilities).items()
    }
    return Profile(
        features=profiled,
        outputs=outputs,
        model=model,
        version=None if version is None else str(version),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        bins=bins,
        top_k=top_k,
        sample_size=sample_size,
        max_seen=max_seen,
    )
