"""Point-in-time joins: for each label row, the latest feature row known by the label time.

Semantics (both engines, identical rows):

- a feature row matches a label row when their entity keys are equal (null keys
  never match), its event time is ``<=`` the label time, and — when the feature
  set declares a created timestamp — it was also created (known) by the label
  time; among matches the one with the latest event time wins;
- the match is dropped when ``label time - event time > ttl`` (TTL inclusive,
  as ``pandas.merge_asof(tolerance=...)``);
- the whole row is taken: a null feature value stays null (no fill from older
  rows), exactly like ``merge_asof``;
- every label row comes out once, in label order for the in-process engine.

Two engines:

- :func:`join_arrow` runs in process on Arrow tables with numpy: keys are
  dictionary-encoded across labels and features, ``(key, time)`` is packed into
  one int64, and a ``searchsorted`` finds each label's row (no per-key loop).
- :func:`join_spark` unions the label rows with each feature set's rows and
  takes ``last(struct, ignorenulls)`` over a window per key ordered by time
  (``max`` of a struct led by the event time when a created timestamp bounds
  what is known), then keeps the label rows. No join: each feature set is shuffled once,
  the label rows once per change of key columns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlplatform.errors import FeatureError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["JoinInput", "join_arrow", "join_spark", "key_family"]

log = logging.getLogger(__name__)

_MAX_PACKED = 1 << 62
_SECOND = 1_000_000


@dataclass(frozen=True)
class JoinInput:
    """One feature set's side of a point-in-time join.

    Attributes:
        name: feature-set name (for messages).
        keys: entity key columns, present under the same names in the labels.
        event_timestamp: the feature rows' event-time column.
        created_timestamp: when a row became known (as-of-known-time cutoff), or None.
        ttl: the oldest a value may be at the label time, or None for no limit.
        columns: (feature column, output column name) pairs to bring over.
    """

    name: str
    keys: tuple[str, ...]
    event_timestamp: str
    created_timestamp: str | None
    ttl: timedelta | None
    columns: tuple[tuple[str, str], ...]

    def needed(self) -> list[str]:
        """Columns to read from the feature table."""
        cols = list(self.keys) + [self.event_timestamp]
        cols += [self.created_timestamp] if self.created_timestamp else []
        return list(dict.fromkeys(cols + [c for c, _ in self.columns]))

    @property
    def ttl_micros(self) -> int | None:
        return None if self.ttl is None else int(self.ttl / timedelta(microseconds=1))


# --------------------------------------------------------------------------- in process


def _micros(arr: pa.ChunkedArray | pa.Array, what: str) -> np.ndarray:
    """A timestamp/date column as int64 microseconds since the epoch (naive values are UTC)."""
    typ = arr.type
    if pa.types.is_date(typ):
        arr = pc.cast(arr, pa.timestamp("us"))
    elif not pa.types.is_timestamp(typ):
        raise FeatureError(f"{what} must be a timestamp or date column, got {typ}", "cast it to a timestamp")
    if arr.null_count:
        raise FeatureError(f"{what} has {arr.null_count} null value(s)", "drop or fill rows without a time")
    arr = pc.cast(arr, pa.timestamp("us", tz=getattr(arr.type, "tz", None)))
    return np.asarray(pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def key_family(typ: pa.DataType) -> str:
    """The kind of a key column's type as the join compares them: integers of any width match, and so on."""
    if pa.types.is_integer(typ):
        return "integer"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return "string"
    if pa.types.is_timestamp(typ):
        return "timestamp"
    return str(typ)


def _integer_codes(lcol: pa.ChunkedArray, fcol: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """One integer key over a compact range: the value minus the minimum is the code (no hashing)."""
    lvals = pc.cast(lcol, pa.int64())
    fvals = np.asarray(pc.cast(fcol, pa.int64()).to_numpy(), dtype=np.int64)  # feature keys are never null
    lmin, lmax = pc.min_max(lvals).values()
    if fvals.size == 0 or lmin.as_py() is None:
        return None
    low = min(int(fvals.min()), lmin.as_py())
    width = max(int(fvals.max()), lmax.as_py()) - low + 1
    if width > 1 << 31:
        return None
    lab = np.asarray(pc.fill_null(pc.subtract(lvals, low), -1).to_numpy(), dtype=np.int64)
    return lab, fvals - low, width


def _key_codes(labels: pa.Table, feats: pa.Table, inp: JoinInput) -> tuple[np.ndarray, np.ndarray, int]:
    """Int codes for the key tuple, shared by labels and features; -1 for a null key."""
    n_labels = labels.num_rows
    combined: np.ndarray | None = None
    for key in inp.keys:
        lcol, fcol = labels.column(key), feats.column(key)
        if key_family(lcol.type) != key_family(fcol.type):
            raise FeatureError(
                f"key column '{key}' is {lcol.type} in the labels but {fcol.type} in feature set '{inp.name}'",
                f"cast '{key}' in the label source to {fcol.type}",
            )
        if len(inp.keys) == 1 and key_family(fcol.type) == "integer" and not fcol.null_count:
            fast = _integer_codes(lcol, fcol)
            if fast is not None:
                return fast
        target = pa.large_string() if key_family(fcol.type) == "string" else fcol.type
        if key_family(fcol.type) == "integer":
            target = pa.int64()
        both = pa.chunked_array(pc.cast(lcol, target).chunks + pc.cast(fcol, target).chunks, type=target)
        encoded = pc.dictionary_encode(both).combine_chunks()
        codes = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
        if combined is None:
            combined = codes
        else:
            width = int(codes.max()) + 2
            packed = np.where((combined < 0) | (codes < 0), -1, combined * width + codes)
            _, inverse = np.unique(packed, return_inverse=True)
            combined = np.where(packed < 0, -1, inverse.astype(np.int64) - (1 if (packed < 0).any() else 0))
    assert combined is not None
    return combined[:n_labels], combined[n_labels:], int(combined.max()) + 1


def _pack(codes: np.ndarray, times: np.ndarray, tmin: int, span: int) -> np.ndarray:
    return codes * span + (times - tmin)


def _duplicates(sorted_packed: np.ndarray, order: np.ndarray, feats: pa.Table, inp: JoinInput, column: str) -> None:
    same = np.flatnonzero(sorted_packed[1:] == sorted_packed[:-1])
    if same.size:
        row = int(order[same[0]])
        example = ", ".join(f"{k}={feats.column(k)[row].as_py()!r}" for k in inp.keys)
        raise FeatureError(
            f"feature set '{inp.name}' has {same.size} duplicate ({', '.join(inp.keys)}, {column}) row(s), "
            f"e.g. {example}, {column}={feats.column(column)[row].as_py()}",
            "keep one row per key and time (ingestion with mode merge does)",
        )


def _last_at_or_before(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of the last value <= each query (-1 if none); queries are searched in sorted order (cache-friendly)."""
    order = np.argsort(queries, kind="stable")
    pos = np.empty(queries.size, dtype=np.int64)
    pos[order] = np.searchsorted(sorted_values, queries[order], side="right") - 1
    return pos


def _match_rows(labels: pa.Table, label_time: str, feats: pa.Table, inp: JoinInput) -> np.ndarray:
    """For each label row, the index of the matching feature row, or -1."""
    lab_code, feat_code, n_codes = _key_codes(labels, feats, inp)
    lab_t = _micros(labels.column(label_time), f"label time column '{label_time}'")
    ev = _micros(feats.column(inp.event_timestamp), f"feature set '{inp.name}' column '{inp.event_timestamp}'")
    known = ev
    if inp.created_timestamp:
        created = _micros(
            feats.column(inp.created_timestamp), f"feature set '{inp.name}' column '{inp.created_timestamp}'"
        )
        known = np.maximum(ev, created)
    if feats.num_rows == 0 or labels.num_rows == 0:
        return np.full(labels.num_rows, -1, dtype=np.int64)

    lt, et, kt = lab_t, ev, known
    if not (np.any(lt % _SECOND) or np.any(et % _SECOND) or np.any(kt % _SECOND)):
        lt, et, kt = lt // _SECOND, et // _SECOND, kt // _SECOND  # whole seconds: pack 10^6 times tighter
    tmin = int(min(lt.min(), et.min()))
    span = int(max(lt.max(), kt.max())) - tmin + 1
    if n_codes * span >= _MAX_PACKED:  # too wide to pack: compress the times to ranks (order is kept)
        allt, inverse = np.unique(np.concatenate([lab_t, ev, known]), return_inverse=True)
        n, m = lab_t.size, ev.size
        lt, et, kt = inverse[:n], inverse[n : n + m], inverse[n + m :]
        tmin, span = 0, allt.size
    lab_packed = _pack(np.maximum(lab_code, 0), lt, tmin, span)

    ev_packed = _pack(feat_code, et, tmin, span)
    ev_order = np.argsort(ev_packed, kind="stable")
    ev_sorted = ev_packed[ev_order]
    _duplicates(ev_sorted, ev_order, feats, inp, inp.event_timestamp)

    if inp.created_timestamp is None:
        pos = _last_at_or_before(ev_sorted, lab_packed)
        candidate = ev_order[np.maximum(pos, 0)]
    else:
        # Rows in the order they became known; the best row known so far is the
        # running maximum of (key, event time), mapped back to its row.
        known_packed = _pack(feat_code, kt, tmin, span)
        known_order = np.argsort(known_packed, kind="stable")
        best_so_far = np.maximum.accumulate(ev_packed[known_order])
        best_row = ev_order[np.searchsorted(ev_sorted, best_so_far)]
        pos = _last_at_or_before(known_packed[known_order], lab_packed)
        candidate = best_row[np.maximum(pos, 0)]

    valid = (pos >= 0) & (lab_code >= 0) & (feat_code[candidate] == lab_code)
    if inp.ttl_micros is not None:
        valid &= (lab_t - ev[candidate]) <= inp.ttl_micros
    return np.where(valid, candidate, -1)


def _check_columns(table: pa.Table, columns: Sequence[str], what: str, fix: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise FeatureError(f"{what} has no column {', '.join(repr(c) for c in missing)}", fix)


def join_arrow(labels: pa.Table, label_time: str, inputs: Sequence[tuple[JoinInput, pa.Table]]) -> pa.Table:
    """Point-in-time join in process: the label rows (in order) with the feature columns appended.

    Args:
        labels: entity rows with every feature set's key columns and ``label_time``.
        label_time: the label-time column (timestamp or date; naive values are UTC).
        inputs: each feature set's join description and its rows.

    Raises:
        FeatureError: a missing column, a key type mismatch, null times, duplicate
            (key, event time) rows, or an output name used twice.
    """
    _check_columns(labels, [label_time], "the label rows", "name the label-time column in labels.event_timestamp")
    out = labels
    for inp, feats in inputs:
        _check_columns(
            labels,
            inp.keys,
            f"the label rows (keys of feature set '{inp.name}')",
            "add the key columns to the label source",
        )
        _check_columns(feats, inp.needed(), f"feature set '{inp.name}'", "check the feature references")
        rows = _match_rows(labels, label_time, feats, inp)
        indices = pa.array(rows, mask=rows < 0)
        for column, name in inp.columns:
            if name in out.column_names:
                raise FeatureError(
                    f"output column '{name}' (from feature set '{inp.name}') is already taken",
                    f"rename it with '{inp.name}:{column} as other_name' in the spec",
                )
            out = out.append_column(name, feats.column(column).take(indices))
        log.debug(
            "point-in-time join with %s: %d of %d label rows matched", inp.name, int((rows >= 0).sum()), len(rows)
        )
    return out


# --------------------------------------------------------------------------- Spark


def join_spark(labels: "DataFrame", label_time: str, inputs: Sequence[tuple[JoinInput, "DataFrame"]]) -> "DataFrame":
    """The same join on Spark: per feature set, one window over labels ∪ feature rows by key.

    Label rows keep their columns; the result has the label columns followed by the
    feature columns. Row order is not defined.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    _spark_columns(
        labels.columns, [label_time], "the label rows", "name the label-time column in labels.event_timestamp"
    )
    label_cols = list(labels.columns)
    out = labels.withColumn("__t", _spark_micros(F.col(label_time)))
    out_names = list(label_cols)
    partitions = int(labels.sparkSession.conf.get("spark.sql.shuffle.partitions") or 200)
    partitioned_by: tuple[str, ...] | None = None
    for inp, feats in inputs:
        _spark_columns(
            labels.columns,
            inp.keys,
            f"the label rows (keys of feature set '{inp.name}')",
            "add the key columns to the label source",
        )
        _spark_columns(feats.columns, inp.needed(), f"feature set '{inp.name}'", "check the feature references")
        _spark_key_types(labels, feats, inp)
        for column, name in inp.columns:
            if name in out_names:
                raise FeatureError(
                    f"output column '{name}' (from feature set '{inp.name}') is already taken",
                    f"rename it with '{inp.name}:{column} as other_name' in the spec",
                )
            out_names.append(name)

        value = F.struct(
            _spark_micros(F.col(inp.event_timestamp)).alias("__e"),
            *[F.col(c).alias(f"__f{i}") for i, (c, _) in enumerate(inp.columns)],
        )
        known = _spark_micros(F.col(inp.event_timestamp))
        if inp.created_timestamp:
            known = F.greatest(known, _spark_micros(F.col(inp.created_timestamp)))
        feature_rows = feats.select(
            *[F.col(k) for k in inp.keys], value.alias("__v"), known.alias("__o"), F.lit(0).alias("__k")
        )
        # Both sides hash-partitioned alike: the union keeps that partitioning (Spark's
        # unionOutputPartitioning), so the window adds no shuffle of the union, and label rows
        # the previous set's window left partitioned by these keys are not shuffled again.
        # Keys of different integer types hash differently: then Spark shuffles the union.
        if all(labels.schema[k].dataType == feats.schema[k].dataType for k in inp.keys):
            feature_rows = feature_rows.repartition(partitions, *inp.keys)
            if partitioned_by != inp.keys:
                out = out.repartition(partitions, *inp.keys)
            partitioned_by = inp.keys
        else:
            partitioned_by = None
        label_rows = (
            out.withColumn("__v", F.lit(None).cast(feature_rows.schema["__v"].dataType))
            .withColumn("__o", F.col("__t"))
            .withColumn("__k", F.lit(1))
        )
        window = Window.partitionBy(*inp.keys).orderBy("__o", "__k").rowsBetween(Window.unboundedPreceding, 0)
        # Feature rows are unique per (key, event time): without a created time the last
        # row by time is the latest event; with one, the max struct (led by event time)
        # among the rows known so far is.
        picked = F.max("__v") if inp.created_timestamp else F.last("__v", ignorenulls=True)
        joined = label_rows.unionByName(feature_rows, allowMissingColumns=True).withColumn("__p", picked.over(window))
        ok = F.col("__p").isNotNull()
        if inp.ttl_micros is not None:
            ok = ok & ((F.col("__t") - F.col("__p.__e")) <= F.lit(inp.ttl_micros))
        out = joined.where(F.col("__k") == 1).select(
            *[F.col(c) for c in out.columns if c not in ("__v", "__o", "__k")],
            *[F.when(ok, F.col(f"__p.__f{i}")).alias(name) for i, (_, name) in enumerate(inp.columns)],
        )
    return out.drop("__t")


def _spark_micros(column):  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    return F.unix_micros(column.cast("timestamp"))


def _spark_columns(have: Sequence[str], needed: Sequence[str], what: str, fix: str) -> None:
    missing = [c for c in needed if c not in have]
    if missing:
        raise FeatureError(f"{what} has no column {', '.join(repr(c) for c in missing)}", fix)


def _spark_key_types(labels: "DataFrame", feats: "DataFrame", inp: JoinInput) -> None:
    from pyspark.sql.types import IntegralType, StringType

    def family(dtype) -> str:  # type: ignore[no-untyped-def]
        if isinstance(dtype, IntegralType):
            return "integer"
        if isinstance(dtype, StringType):
            return "string"
        return dtype.simpleString()

    for key in inp.keys:
        lt, ft = labels.schema[key].dataType, feats.schema[key].dataType
        if family(lt) != family(ft):
            raise FeatureError(
                f"key column '{key}' is {lt.simpleString()} in the labels but {ft.simpleString()} "
                f"in feature set '{inp.name}'",
                f"cast '{key}' in the label source to {ft.simpleString()}",
            )
