"""Drift against a reference profile: PSI and JS equal numpy/scipy, the small-sample tests equal scipy.stats,
large samples of one distribution raise nothing, injected drift is flagged, data quality is measured."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlplatform.errors import MonitoringError
from mlplatform.monitoring import Band, ModelThresholds, Thresholds, build_profile, compare

EPS = 1e-4  # the documented PSI floor of a bin's share


def _psi(reference: np.ndarray, current: np.ndarray) -> float:
    r = np.clip(reference, EPS, None)
    c = np.clip(current, EPS, None)
    return float(((c - r) * np.log(c / r)).sum())


def _numeric_shares(values: np.ndarray, edges: list[float]) -> np.ndarray:
    counts = pd.cut(pd.Series(values).dropna(), edges, right=True).value_counts(sort=False).to_numpy()
    return counts / counts.sum()


def _category_shares(values: pd.Series, categories: list[str]) -> np.ndarray:
    counts = values.dropna().astype(str).value_counts()
    top = np.array([counts.get(c, 0) for c in categories], dtype=float)
    shares = np.append(top, counts.sum() - top.sum())
    return shares / shares.sum()


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0, mix: tuple[float, ...] = (0.5, 0.3, 0.2)):
    return pd.DataFrame(
        {
            "income": rng.normal(50 + shift * 10, 10, n),
            "visits": rng.poisson(3, n),
            "plan": rng.choice(["basic", "plus", "pro"], p=list(mix), size=n),
            "region": rng.choice([f"r{i}" for i in range(30)], size=n),
        }
    )


@pytest.mark.parametrize("inner_edges", [9, 32, 33, 60])  # both sides of the comparison/searchsorted switch
def test_numeric_bin_counts_equal_pandas_cut_with_nulls_infinities_and_values_on_edges(inner_edges) -> None:
    from mlplatform.monitoring.stats import numeric_bin_counts

    rng = np.random.default_rng(inner_edges)
    inner = np.unique(np.round(rng.normal(size=inner_edges), 2))
    values = np.concatenate(
        [
            rng.normal(size=20_000),
            inner,
            inner,
            [np.nan] * 37,
            [-np.inf] * 3,
            [np.inf] * 5,
            np.round(rng.normal(size=500), 2),
        ]
    )
    edges = [-math.inf, *inner, math.inf]
    expected = pd.cut(pd.Series(values).dropna(), edges, right=True, include_lowest=True).value_counts(sort=False)
    counts = numeric_bin_counts(rng.permutation(values), edges)
    assert counts.tolist() == expected.to_numpy().tolist() and counts.sum() == np.count_nonzero(~np.isnan(values))


def test_integer_and_nullable_integer_columns_are_summarised_as_their_numbers() -> None:
    from mlplatform.monitoring.summary import summarize_column

    rng = np.random.default_rng(3)
    profile = build_profile(pd.DataFrame({"n": rng.integers(0, 50, 5000)}))
    column = profile.features["n"]
    for current in (
        pd.Series(rng.integers(-5, 60, 4000)),
        pd.Series(rng.integers(-5, 60, 4000)).astype("Int64").mask(lambda s: s % 7 == 0),
    ):
        summary = summarize_column(column, current, small_sample_rows=0)
        numbers = current.astype("float64").dropna()
        expected = pd.cut(numbers, list(column.edges), right=True).value_counts(sort=False).to_numpy()
        low, high = column.minimum, column.maximum
        assert list(summary.counts) == expected.tolist() and summary.non_null == len(numbers)
        assert summary.outside == int(((numbers < low) | (numbers > high)).sum())


def test_psi_and_js_equal_an_independent_numpy_scipy_computation() -> None:
    rng = np.random.default_rng(0)
    reference = _frame(rng, 40_000)
    current = _frame(rng, 25_000, shift=0.3, mix=(0.4, 0.3, 0.3))
    current.loc[current.sample(frac=0.05, random_state=1).index, "income"] = np.nan
    profile = build_profile(reference)
    report = compare(profile, current)
    for name in ("income", "visits"):
        edges = [-math.inf, *np.unique(np.quantile(reference[name], np.arange(1, 10) / 10, method="lower")), math.inf]
        r, c = (
            _numeric_shares(reference[name].to_numpy(float), edges),
            _numeric_shares(current[name].to_numpy(float), edges),
        )
        result = report.column(name)
        assert result.psi == pytest.approx(_psi(r, c), abs=1e-9, rel=0)
        assert result.js == pytest.approx(jensenshannon(r, c, base=2), abs=1e-9, rel=0)
    for name in ("plan", "region"):
        top = reference[name].value_counts().sort_index(kind="stable").sort_values(ascending=False, kind="stable")
        categories = list(top.index[:20])
        r, c = _category_shares(reference[name], categories), _category_shares(current[name], categories)
        result = report.column(name)
        assert result.psi == pytest.approx(_psi(r, c), abs=1e-9, rel=0)
        assert result.js == pytest.approx(jensenshannon(r, c, base=2), abs=1e-9, rel=0)
    assert report.column("income").null_rate == pytest.approx(current["income"].isna().mean(), abs=1e-15)


def test_a_million_rows_of_the_same_distribution_raise_nothing_where_ks_would() -> None:
    rng = np.random.default_rng(1)
    n = 1_000_000
    reference = _frame(rng, n)
    profile = build_profile(reference)
    current = _frame(rng, n)
    current["income"] += 0.2  # 0.02 standard deviations: real but negligible
    report = compare(profile, current)
    assert report.status == "ok", report.to_frame()[["feature", "psi", "reasons"]]
    assert all(c.psi < 0.1 * 0.1 for c in report.columns)  # far under the warn band
    assert all(c.test is None for c in report.columns)  # no test on a large sample, because one would cry wolf:
    assert stats.ks_2samp(reference["income"], current["income"]).pvalue < 1e-6


def test_an_injected_shift_and_a_new_category_mix_are_alerts_and_nothing_else_is_flagged() -> None:
    rng = np.random.default_rng(2)
    profile = build_profile(_frame(rng, 50_000))
    report = compare(profile, _frame(rng, 50_000, shift=1.0, mix=(0.2, 0.3, 0.5)))
    assert report.column("income").status == "alert" and report.column("income").psi >= 0.25
    assert report.column("plan").status == "alert" and report.column("plan").psi >= 0.25
    assert [c.feature for c in report.flagged()] == ["income", "plan"]
    assert report.status == "alert"
    unchanged = compare(profile, _frame(rng, 50_000))
    assert unchanged.status == "ok" and unchanged.flagged() == []


def test_the_small_sample_tests_equal_scipy_stats() -> None:
    rng = np.random.default_rng(3)
    reference = _frame(rng, 20_000)
    profile = build_profile(reference, sample_size=1000)
    current = _frame(rng, 600, shift=0.4, mix=(0.45, 0.3, 0.25))
    current.loc[:19, "plan"] = None
    report = compare(profile, current)
    income = report.column("income")
    expected = stats.ks_2samp(np.asarray(profile.features["income"].sample), current["income"].to_numpy())
    assert income.test == "ks"
    assert income.statistic == expected.statistic and income.p_value == expected.pvalue
    plan = report.column("plan")
    reference_counts = reference["plan"].value_counts()
    observed = current["plan"].value_counts()
    names = sorted(reference_counts.index)
    expected_counts = reference_counts[names] / reference_counts.sum() * observed.sum()
    chi = stats.chisquare(observed.reindex(names).to_numpy(), expected_counts.to_numpy())
    assert plan.test == "chi2"
    assert plan.statistic == pytest.approx(chi.statistic, rel=1e-12) and plan.p_value == pytest.approx(
        chi.pvalue, rel=1e-9
    )
    assert income.p_value < 0.01 and income.status != "ok"


def test_a_small_sample_needs_its_test_to_confirm_a_psi_band() -> None:
    rng = np.random.default_rng(4)
    profile = build_profile(_frame(rng, 20_000))
    tiny = compare(profile, _frame(rng, 40))  # 40 rows scatter PSI over 10 bins
    income = tiny.column("income")
    assert income.psi >= 0.1 and income.p_value >= 0.01
    assert income.drift_status == "ok" and "but ks p=" in income.reasons[0]
    big = Thresholds(small_sample_rows=0)  # the same rows judged as a large sample: PSI alone
    assert compare(profile, _frame(rng, 40), thresholds=ModelThresholds(default=big)).column("income").status != "ok"
    shifted = compare(profile, _frame(rng, 200, shift=2.0)).column("income")
    assert shifted.status == "alert" and shifted.p_value < 1e-10


def test_nulls_all_null_and_constant_columns() -> None:
    rng = np.random.default_rng(5)
    n = 5000
    reference = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "empty": np.full(n, np.nan),
            "const": np.full(n, 2.0),
            "c": rng.choice(["a", "b"], size=n),
        }
    )
    profile = build_profile(reference)
    current = reference.sample(frac=1.0, random_state=0).reset_index(drop=True).iloc[:20_000].copy()
    current.loc[: int(0.3 * len(current)) - 1, "x"] = np.nan
    current["c"] = None
    report = compare(profile, current)
    x = report.column("x")
    assert x.null_rate_change == pytest.approx(current["x"].isna().mean(), abs=1e-12) and x.status == "alert"
    assert x.drift_status == "ok" and "null rate increase" in x.reasons[0]
    c = report.column("c")
    assert c.null_rate == 1.0 and math.isnan(c.psi) and math.isnan(c.js) and c.status == "alert"
    empty = report.column("empty")
    assert math.isnan(empty.psi) and empty.null_rate_change == 0.0 and empty.status == "ok"
    const = report.column("const")
    assert const.psi == 0.0 and const.js == 0.0 and const.out_of_range_share == 0.0 and const.status == "ok"
    moved = compare(profile, reference.assign(const=3.0)).column("const")
    assert moved.out_of_range_share == 1.0 and moved.status == "alert" and moved.psi > 0.25
    records = {r["feature"]: r for r in json.loads(json.dumps(report.to_records(), allow_nan=False))}
    assert records["empty"]["psi"] is None and records["x"]["status"] == "alert"


def test_out_of_range_and_unseen_shares_equal_pandas() -> None:
    rng = np.random.default_rng(6)
    reference = pd.DataFrame(
        {"x": rng.uniform(0, 1, 10_000), "c": rng.choice([f"k{i}" for i in range(25)], size=10_000)}
    )
    profile = build_profile(reference, top_k=5)
    current = pd.DataFrame(
        {"x": rng.uniform(-0.1, 1.2, 8000), "c": rng.choice([f"k{i}" for i in range(28)], size=8000)}
    )
    report = compare(profile, current)
    lo, hi = reference["x"].min(), reference["x"].max()
    assert report.column("x").out_of_range_share == pytest.approx(((current["x"] < lo) | (current["x"] > hi)).mean())
    assert report.column("x").status == "alert"  # ~23% out of range
    unseen = (~current["c"].isin(reference["c"].unique())).mean()
    assert report.column("c").unseen_share == pytest.approx(unseen) and report.column("c").status == "warn"
    forgetful = build_profile(reference, top_k=5, max_seen=3)
    assert math.isnan(compare(forgetful, current).column("c").unseen_share)


def test_outputs_are_compared_like_features_and_thresholds_apply_per_feature() -> None:
    rng = np.random.default_rng(7)
    features = _frame(rng, 30_000)
    proba = rng.beta(2, 5, 30_000)
    profile = build_profile(features, predictions=proba > 0.5, probabilities=proba, model="churn", version=2)
    later = rng.beta(5, 2, 30_000)
    report = compare(profile, _frame(rng, 30_000, shift=0.5), predictions=later > 0.5, probabilities=later)
    assert [c.feature for c in report.columns[-2:]] == ["prediction", "probability"]
    assert report.column("probability").role == "probability" and report.column("probability").status == "alert"
    assert report.column("prediction").kind == "categorical" and report.column("prediction").status == "alert"
    assert report.column("income").status in ("warn", "alert")
    lenient = ModelThresholds(columns={"income": Thresholds(psi=Band(5.0, 10.0))})
    relaxed = compare(profile, _frame(rng, 30_000, shift=0.5), predictions=later > 0.5, thresholds=lenient)
    assert relaxed.column("income").status == "ok" and relaxed.column("prediction").status == "alert"
    assert (report.model, report.version, report.rows, report.reference_rows) == ("churn", "2", 30_000, 30_000)


def test_bad_input_names_the_model_and_what_to_do() -> None:
    rng = np.random.default_rng(8)
    profile = build_profile(_frame(rng, 100), predictions=rng.random(100), model="churn", version=1)
    with pytest.raises(MonitoringError, match=r"model:churn@1 lacks profiled feature\(s\) plan — pass the scored"):
        compare(profile, _frame(rng, 100).drop(columns="plan"))
    with pytest.raises(MonitoringError, match=r"model:churn@1 has no reference profile of output 'probability'"):
        compare(profile, _frame(rng, 100), probabilities=rng.random(100))
    with pytest.raises(MonitoringError, match=r"model:churn@1 has no feature\(s\) 'tenure' to set thresholds for"):
        compare(profile, _frame(rng, 100), thresholds=ModelThresholds(columns={"tenure": Thresholds()}))
    text = _frame(rng, 100).assign(income="n/a")
    with pytest.raises(MonitoringError, match=r"column 'income' is numeric in the reference but holds 100 non-numeric"):
        compare(profile, text)
