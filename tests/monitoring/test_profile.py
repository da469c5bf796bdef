"""The reference profile: bins, counts and categories equal what numpy and pandas compute; JSON round trip."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlplatform.errors import MonitoringError
from mlplatform.monitoring import FORMAT_VERSION, Profile, build_profile


def _reference_bins(values: np.ndarray, bins: int = 10) -> tuple[list[float], list[int]]:
    """Edges and counts computed the documented way, with numpy quantiles and pandas.cut."""
    finite = values[np.isfinite(values)]
    inner = np.unique(np.quantile(finite, np.arange(1, bins) / bins, method="lower"))
    edges = [-math.inf, *inner.tolist(), math.inf]
    cut = pd.cut(pd.Series(values).dropna(), edges, right=True)
    return edges, cut.value_counts(sort=False).tolist()


def test_numeric_bins_nulls_and_range_equal_numpy_and_pandas() -> None:
    rng = np.random.default_rng(7)
    values = rng.lognormal(size=20_000)
    values[rng.random(values.size) < 0.07] = np.nan
    frame = pd.DataFrame({"amount": values})
    column = build_profile(frame).features["amount"]
    edges, counts = _reference_bins(values)
    assert column.kind == "numeric" and column.role == "feature"
    assert list(column.edges) == edges and len(edges) == 11
    assert list(column.counts) == counts
    assert column.rows == 20_000 and column.nulls == int(np.isnan(values).sum())
    assert column.null_rate == pytest.approx(pd.Series(values).isna().mean(), abs=1e-15)
    assert column.minimum == np.nanmin(values) and column.maximum == np.nanmax(values)
    assert np.allclose(column.shares(), np.asarray(counts) / sum(counts))


def test_discrete_values_get_deduplicated_bins_every_one_but_the_top_one_filled() -> None:
    rng = np.random.default_rng(3)
    values = rng.choice([0, 1, 2, 5], p=[0.55, 0.3, 0.1, 0.05], size=5000)
    column = build_profile(pd.DataFrame({"visits": values})).features["visits"]
    edges, counts = _reference_bins(values.astype(float))
    assert list(column.edges) == edges
    assert list(column.counts) == counts
    assert len(set(column.edges)) == len(column.edges) < 11
    assert all(c > 0 for c in column.counts[:-1])
    assert sum(column.counts) == 5000


def test_a_constant_column_has_one_filled_bin_and_an_all_null_one_none() -> None:
    frame = pd.DataFrame(
        {"const": [3.5] * 100, "empty": [np.nan] * 100, "label": pd.Series([None] * 100, dtype=object)}
    )
    profile = build_profile(frame)
    const, empty, label = profile.features["const"], profile.features["empty"], profile.features["label"]
    assert const.edges == (-math.inf, 3.5, math.inf) and const.counts == (100, 0)
    assert const.minimum == const.maximum == 3.5
    assert empty.nulls == 100 and empty.null_rate == 1.0
    assert empty.edges == (-math.inf, math.inf) and empty.counts == (0,)
    assert empty.minimum is None and empty.sample == ()
    assert label.kind == "categorical" and label.counts == (0,) and label.categories == ()
    assert Profile.from_dict(json.loads(json.dumps(profile.to_dict(), allow_nan=False))) == profile


def test_categories_are_the_top_k_by_frequency_with_an_other_bucket() -> None:
    rng = np.random.default_rng(11)
    weights = np.arange(30, 0, -1, dtype=float)
    names = [f"c{i:02d}" for i in range(30)]
    values = pd.Series(rng.choice(names, p=weights / weights.sum(), size=30_000))
    values[rng.random(values.size) < 0.02] = None
    column = build_profile(pd.DataFrame({"plan": values})).features["plan"]
    counts = values.value_counts()
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    assert column.kind == "categorical"
    assert list(column.categories) == [k for k, _ in expected[:20]]
    assert list(column.counts[:-1]) == [v for _, v in expected[:20]]
    assert column.counts[-1] == counts.sum() - sum(v for _, v in expected[:20])
    assert set(column.seen) == set(counts.index) - set(column.categories) and column.seen_complete
    assert column.nulls == int(values.isna().sum())
    few = build_profile(pd.DataFrame({"plan": values}), top_k=5, max_seen=3).features["plan"]
    assert len(few.categories) == 5 and len(few.seen) == 3 and not few.seen_complete


def test_booleans_strings_and_named_integer_codes_are_categorical() -> None:
    frame = pd.DataFrame({"flag": [True, False, True], "code": [1, 2, 2], "name": ["a", "b", "a"]})
    profile = build_profile(frame, categorical=["code"])
    assert {n: c.kind for n, c in profile.features.items()} == {
        "flag": "categorical",
        "code": "categorical",
        "name": "categorical",
    }
    assert profile.features["code"].categories == ("2", "1") and profile.features["flag"].counts == (2, 1, 0)


def test_a_pyarrow_table_gives_the_same_profile_as_its_pandas_frame() -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(size=3000), "c": rng.choice(["a", "b", None], size=3000)})
    from_pandas = build_profile(frame).to_dict()
    from_arrow = build_profile(pa.Table.from_pandas(frame)).to_dict()
    from_pandas.pop("created_at"), from_arrow.pop("created_at")
    assert from_arrow == from_pandas


def test_the_ks_sample_is_a_subset_of_the_reference_values_or_all_of_them() -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(size=5000)
    big = build_profile(pd.DataFrame({"x": values}), sample_size=300).features["x"]
    small = build_profile(pd.DataFrame({"x": values[:200]}), sample_size=300).features["x"]
    assert len(big.sample) == 300 and set(big.sample) <= set(values) and len(set(big.sample)) == 300
    assert list(small.sample) == sorted(values[:200])
    again = build_profile(pd.DataFrame({"x": values}), sample_size=300).features["x"]
    assert again.sample == big.sample


def test_outputs_are_profiled_with_their_own_row_counts() -> None:
    rng = np.random.default_rng(4)
    proba = rng.random((800, 2))
    profile = build_profile(
        pd.DataFrame({"x": rng.normal(size=1000)}),
        predictions=np.where(proba[:, 1] > 0.5, "yes", "no"),
        probabilities=proba,
        model="churn",
        version=3,
    )
    assert list(profile.outputs) == ["prediction", "probability_0", "probability_1"]
    assert profile.outputs["prediction"].kind == "categorical" and profile.outputs["prediction"].rows == 800
    assert profile.outputs["probability_1"].role == "probability"
    assert profile.outputs["probability_1"].maximum == proba[:, 1].max()
    assert profile.rows == 1000 and profile.version == "3" and profile.subject == "model:churn@3"
    named = build_profile(pd.DataFrame({"x": [1.0]}), probabilities=pd.DataFrame({"yes": [0.2], "no": [0.8]}))
    assert list(named.outputs) == ["probability_yes", "probability_no"]


def test_json_round_trip_and_format_version() -> None:
    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(list("xyz"), size=500)})
    profile = build_profile(frame, predictions=rng.random(500), model="m", version="1")
    data = json.loads(json.dumps(profile.to_dict(), allow_nan=False))
    assert data["format_version"] == FORMAT_VERSION and data["features"][0]["edges"][0] == "-inf"
    assert Profile.from_dict(data) == profile
    with pytest.raises(MonitoringError, match=r"format version 99; this platform reads format 1 — upgrade"):
        Profile.from_dict({**data, "format_version": 99})
    broken = {**data, "features": [{k: v for k, v in data["features"][0].items() if k != "rows"}]}
    with pytest.raises(MonitoringError, match=r"stored profile of column 'x' is malformed: KeyError"):
        Profile.from_dict(broken)


def test_bad_input_names_the_column_or_setting() -> None:
    with pytest.raises(MonitoringError, match=r"column 'at' holds datetime64\[ns\] values.*exclude="):
        build_profile(pd.DataFrame({"at": pd.to_datetime(["2024-01-01"])}))
    assert list(
        build_profile(pd.DataFrame({"at": pd.to_datetime(["2024-01-01"]), "x": [1]}), exclude=["at"]).features
    ) == ["x"]
    with pytest.raises(
        MonitoringError, match=r"\['nope'\] named in categorical=/exclude= are not in the feature frame"
    ):
        build_profile(pd.DataFrame({"x": [1]}), categorical=["nope"])
    with pytest.raises(MonitoringError, match=r"bins=1 is not valid — pass an integer >= 2"):
        build_profile(pd.DataFrame({"x": [1]}), bins=1)
    with pytest.raises(MonitoringError, match=r"is a list, not a table of features — pass a pandas DataFrame"):
        build_profile([[1, 2]])
    with pytest.raises(MonitoringError, match=r"predictions has shape \(2, 2\), not one value per row"):
        build_profile(pd.DataFrame({"x": [1]}), predictions=[[1, 2], [3, 4]])
