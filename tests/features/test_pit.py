"""Point-in-time join engines against independent references.

The plain case is checked against ``pandas.merge_asof(direction="backward",
tolerance=ttl, by=keys)``; the as-of-known-time cutoff against a brute-force
per-label scan. Random data has ties (label time == event time, several labels
at one key and time), late-arriving rows (feature rows out of time order), label
keys with no feature rows, null label keys and null feature values.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlplatform.errors import FeatureError
from mlplatform.features.pit import JoinInput, join_arrow, join_spark

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def random_case(seed: int, n_keys: int = 40, n_feats: int = 600, n_labels: int = 400, created: bool = False):
    rng = np.random.default_rng(seed)
    # Coarse time grid (hours over 60 days) so ties are frequent.
    hours = rng.choice(60 * 24, size=n_feats, replace=True)
    keys = rng.integers(0, n_keys, size=n_feats)
    feats = pd.DataFrame({"k": keys, "event_time": T0 + pd.to_timedelta(hours, unit="h")})
    feats = feats.drop_duplicates(["k", "event_time"]).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    n = len(feats)
    feats["x"] = rng.normal(size=n)
    feats.loc[rng.random(n) < 0.15, "x"] = np.nan  # null feature values
    feats["n"] = pd.array(rng.integers(0, 100, size=n), dtype="Int64")
    feats.loc[rng.random(n) < 0.1, "n"] = pd.NA
    feats["s"] = pd.Series([f"v{i}" for i in rng.integers(0, 9, size=n)], dtype=object)
    if created:
        lag = np.where(rng.random(n) < 0.3, rng.integers(0, 20 * 24, size=n), 0)  # 30% backfilled late
        feats["known_at"] = feats["event_time"] + pd.to_timedelta(lag, unit="h")
    # Labels: keys beyond n_keys have no feature rows; some at exact feature times.
    lab_keys = rng.integers(0, n_keys + 8, size=n_labels).astype("float64")
    lab_keys[rng.random(n_labels) < 0.05] = np.nan
    lab_hours = rng.choice(62 * 24, size=n_labels)
    exact = rng.random(n_labels) < 0.3
    pick = rng.integers(0, n, size=n_labels)
    labels = pd.DataFrame(
        {
            "k": pd.array(np.where(exact, feats["k"].to_numpy()[pick], lab_keys), dtype="Float64").astype("Int64"),
            "label_time": np.where(
                exact, feats["event_time"].to_numpy()[pick], (T0 + pd.to_timedelta(lab_hours, unit="h")).to_numpy()
            ),
            "y": rng.integers(0, 2, size=n_labels),
        }
    )
    labels["label_time"] = pd.to_datetime(labels["label_time"], utc=True)
    # Several labels at one key and time.
    labels = pd.concat([labels, labels.iloc[:20]], ignore_index=True)
    return labels, feats


def join_input(ttl: timedelta | None, created: bool = False) -> JoinInput:
    return JoinInput(
        name="fs",
        keys=("k",),
        event_timestamp="event_time",
        created_timestamp="known_at" if created else None,
        ttl=ttl,
        columns=(("x", "x"), ("n", "n"), ("s", "s")),
    )


def to_arrow(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df, preserve_index=False)


def merge_asof_reference(labels: pd.DataFrame, feats: pd.DataFrame, ttl: timedelta | None) -> pd.DataFrame:
    left = labels.assign(_row=np.arange(len(labels)), k=labels["k"].astype("float64")).sort_values("label_time")
    right = (
        feats.assign(k=feats["k"].astype("float64"))
        .rename(columns={"event_time": "label_time"})
        .sort_values("label_time")
    )
    out = pd.merge_asof(
        left,
        right[["k", "label_time", "x", "n", "s"]],
        on="label_time",
        by="k",
        direction="backward",
        allow_exact_matches=True,
        tolerance=pd.Timedelta(ttl) if ttl else None,
    )
    return out.sort_values("_row").drop(columns="_row").reset_index(drop=True)


def brute_force_reference(labels: pd.DataFrame, feats: pd.DataFrame, ttl: timedelta | None) -> pd.DataFrame:
    rows = []
    for _, lab in labels.iterrows():
        t = lab["label_time"]
        match = (
            feats[(feats["k"] == lab["k"]) & (feats["event_time"] <= t) & (feats["known_at"] <= t)]
            if not pd.isna(lab["k"])
            else feats.iloc[:0]
        )
        best = match.sort_values("event_time").tail(1)
        if len(best) and (ttl is None or t - best["event_time"].iloc[0] <= ttl):
            rows.append(best[["x", "n", "s"]].iloc[0].to_dict())
        else:
            rows.append({"x": np.nan, "n": pd.NA, "s": None})
    return pd.concat([labels.reset_index(drop=True), pd.DataFrame(rows)], axis=1)


def normalize(df: pd.DataFrame) -> pd.DataFrame:
    """Same dtypes on both sides: floats, nullable ints as float, strings as object with None."""
    out = df[["k", "label_time", "y", "x", "n", "s"]].copy()
    out["k"] = out["k"].astype("float64")
    out["n"] = pd.to_numeric(out["n"].astype("Float64"), errors="coerce").astype("float64")
    out["x"] = out["x"].astype("float64")
    out["s"] = out["s"].astype(object).where(out["s"].notna(), None)
    out["label_time"] = pd.to_datetime(out["label_time"], utc=True).astype("datetime64[us, UTC]")
    return out.reset_index(drop=True)


def arrow_result(labels, feats, inp) -> pd.DataFrame:
    return join_arrow(to_arrow(labels), "label_time", [(inp, to_arrow(feats))]).to_pandas()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("ttl", [timedelta(days=3), timedelta(hours=7), None])
def test_arrow_engine_matches_merge_asof(seed, ttl):
    labels, feats = random_case(seed)
    expected = normalize(merge_asof_reference(labels, feats, ttl))
    got = normalize(arrow_result(labels, feats, join_input(ttl)))
    assert expected["x"].notna().sum() > 50  # the case exercises matches, not only misses
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize("seed", [4, 5])
def test_arrow_engine_known_time_cutoff_matches_brute_force(seed):
    labels, feats = random_case(seed, n_labels=250, created=True)
    ttl = timedelta(days=5)
    expected = normalize(brute_force_reference(labels, feats, ttl))
    got = normalize(arrow_result(labels, feats, join_input(ttl, created=True)))
    pd.testing.assert_frame_equal(got, expected)
    # The cutoff matters on this data: ignoring it gives different (leaky) rows.
    leaky = normalize(arrow_result(labels, feats, join_input(ttl)))
    assert not leaky.equals(expected)


def test_arrow_engine_composite_keys_and_wide_times():
    """Two key columns (one string) and times spanning centuries (packed times fall back to ranks)."""
    labels, feats = random_case(7)
    feats = feats.assign(region=np.where(feats["k"] % 2 == 0, "north", "south"))
    labels = labels.assign(region=np.where(labels["k"].fillna(0) % 3 == 0, "north", "south"))
    far = pd.DataFrame(
        {
            "k": [0],
            "event_time": [pd.Timestamp("1700-01-01", tz="UTC")],
            "x": [1.0],
            "n": pd.array([1], dtype="Int64"),
            "s": ["old"],
            "region": ["north"],
        }
    )
    feats = pd.concat([feats, far], ignore_index=True)
    inp = JoinInput(
        name="fs",
        keys=("k", "region"),
        event_timestamp="event_time",
        created_timestamp=None,
        ttl=None,
        columns=(("x", "x"), ("n", "n"), ("s", "s")),
    )
    got = normalize(join_arrow(to_arrow(labels), "label_time", [(inp, to_arrow(feats))]).to_pandas())
    left = labels.assign(_row=np.arange(len(labels)), k=labels["k"].astype("float64")).sort_values("label_time")
    right = (
        feats.assign(k=feats["k"].astype("float64"))
        .rename(columns={"event_time": "label_time"})
        .sort_values("label_time")
    )
    ref = pd.merge_asof(left, right, on="label_time", by=["k", "region"], direction="backward")
    expected = normalize(ref.sort_values("_row").reset_index(drop=True))
    pd.testing.assert_frame_equal(got, expected)


def test_arrow_engine_rejects_duplicates_and_type_mismatch():
    labels, feats = random_case(8)
    dup = pd.concat([feats, feats.iloc[[3]]], ignore_index=True)
    with pytest.raises(FeatureError, match=r"feature set 'fs' has 1 duplicate \(k, event_time\)"):
        arrow_result(labels, dup, join_input(None))
    with pytest.raises(FeatureError, match=r"key column 'k' is string in the labels but int64 in feature set 'fs'"):
        arrow_result(labels.assign(k=labels["k"].astype(str)), feats, join_input(None))
    with pytest.raises(FeatureError, match=r"feature set 'fs' has no column 'x'"):
        arrow_result(labels, feats.drop(columns="x"), join_input(None))


# --------------------------------------------------------------------------- Spark


def spark_result(spark, labels, feats, inp) -> pd.DataFrame:
    ldf = spark.createDataFrame(to_arrow(labels.assign(_row=np.arange(len(labels)))).to_pandas())
    fdf = spark.createDataFrame(feats)
    out = join_spark(ldf, "label_time", [(inp, fdf)])
    return out.toPandas().sort_values("_row").drop(columns="_row").reset_index(drop=True)


@pytest.mark.parametrize("ttl", [timedelta(days=3), None])
def test_spark_engine_matches_merge_asof(spark, ttl):
    labels, feats = random_case(11)
    expected = normalize(merge_asof_reference(labels, feats, ttl))
    got = normalize(spark_result(spark, labels, feats, join_input(ttl)))
    pd.testing.assert_frame_equal(got, expected)


def test_spark_engine_known_time_cutoff_matches_brute_force(spark):
    labels, feats = random_case(12, n_labels=250, created=True)
    ttl = timedelta(days=5)
    expected = normalize(brute_force_reference(labels, feats, ttl))
    got = normalize(spark_result(spark, labels, feats, join_input(ttl, created=True)))
    pd.testing.assert_frame_equal(got, expected)


def test_spark_engine_joins_several_feature_sets_like_the_arrow_engine(spark):
    """Two sets keyed by k (the second with a known-time cutoff: its label rows are not shuffled again),
    then a set keyed by (k, region)."""
    labels, plain = random_case(21)
    _, late = random_case(22, created=True)
    labels = labels.assign(region=np.where(labels["k"].fillna(0) % 3 == 0, "north", "south"))
    # an int key against the labels' bigint: that set's rows are not pre-partitioned
    regional = plain.assign(
        k=plain["k"].astype("int32"), region=np.where(plain["k"] % 2 == 0, "north", "south"), x=plain["x"] * 10
    )
    inputs = [
        (JoinInput("plain", ("k",), "event_time", None, timedelta(days=3), (("x", "a_x"), ("s", "a_s"))), plain),
        (JoinInput("late", ("k",), "event_time", "known_at", timedelta(days=5), (("x", "b_x"), ("n", "b_n"))), late),
        (JoinInput("by_region", ("k", "region"), "event_time", None, None, (("x", "c_x"),)), regional),
    ]
    expected = join_arrow(to_arrow(labels), "label_time", [(inp, to_arrow(f)) for inp, f in inputs]).to_pandas()
    ldf = spark.createDataFrame(to_arrow(labels.assign(_row=np.arange(len(labels)))).to_pandas())
    out = join_spark(ldf, "label_time", [(inp, spark.createDataFrame(f)) for inp, f in inputs])
    names = ["k", "label_time", "y", "region", "_row", "a_x", "a_s", "b_x", "b_n", "c_x"]
    assert out.columns == names  # label columns, then each set's in the order given
    plan = out._jdf.queryExecution().executedPlan().toString()
    # the labels, plain and late each shuffled once into the same partitions; by_region's union as a whole
    assert plan.count("REPARTITION_BY_NUM") == 3 and plan.count("Exchange hashpartitioning") == 4, plan
    got = out.toPandas().sort_values("_row").drop(columns="_row").reset_index(drop=True)
    assert got[["a_x", "c_x", "b_x"]].notna().sum().min() > 50  # every set matched rows
    for column in ("a_x", "c_x", "b_x"):
        np.testing.assert_array_equal(got[column].to_numpy("float64"), expected[column].to_numpy("float64"))
    assert (
        got["a_s"].where(got["a_s"].notna(), None).tolist()
        == expected["a_s"].where(expected["a_s"].notna(), None).tolist()
    )
    assert pd.to_numeric(got["b_n"]).fillna(-1).tolist() == pd.to_numeric(expected["b_n"]).fillna(-1).tolist()


def test_spark_engine_rejects_key_type_mismatch(spark):
    labels, feats = random_case(13)
    ldf = spark.createDataFrame(labels.assign(k=labels["k"].astype(str)))
    with pytest.raises(FeatureError, match=r"key column 'k' is string in the labels but bigint in feature set 'fs'"):
        join_spark(ldf, "label_time", [(join_input(None), spark.createDataFrame(feats))])


def test_arrow_engine_wide_key_range_and_microsecond_times():
    """Integer keys spread over 2^31 and sub-second times: (key, time) no longer packs, times become ranks."""
    labels, feats = random_case(9)
    rng = np.random.default_rng(9)
    feats = feats.assign(
        k=feats["k"] * 40_000_000,
        event_time=feats["event_time"] + pd.to_timedelta(rng.integers(0, 10**6, len(feats)), unit="us"),
    )
    labels = labels.assign(
        k=labels["k"] * 40_000_000,
        label_time=labels["label_time"] + pd.to_timedelta(rng.integers(0, 10**6, len(labels)), unit="us"),
    )
    ttl = timedelta(days=2)
    expected = normalize(merge_asof_reference(labels, feats, ttl))
    got = normalize(arrow_result(labels, feats, join_input(ttl)))
    pd.testing.assert_frame_equal(got, expected)
