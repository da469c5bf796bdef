"""Profiles and drift results in Delta: read back equal, re-written per (model, version[, run date]) in place."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mlplatform import tables
from mlplatform.errors import EXIT_NOT_FOUND, MonitoringError, NoProfileError
from mlplatform.monitoring import build_profile, compare
from mlplatform.monitoring.store import (
    drift_table,
    profiles_table,
    read_drift,
    read_profile,
    write_drift,
    write_profile,
)


def _frame(seed: int, n: int = 2000, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tenure": rng.normal(24 + shift * 12, 12, n),
            "plan": rng.choice(["basic", "pro", None], p=[0.6, 0.3, 0.1], size=n),
            "empty": np.full(n, np.nan),
        }
    )


def test_a_stored_profile_reads_back_equal_and_a_rewrite_replaces_only_its_version(settings) -> None:
    first = build_profile(_frame(0), predictions=np.arange(2000) % 2 == 0, model="churn", version=1)
    other = build_profile(_frame(1), probabilities=np.linspace(0, 1, 2000), model="churn", version=2)
    write_profile(settings, first)
    write_profile(settings, other)
    assert read_profile(settings, "churn", 1) == first
    assert read_profile(settings, "churn", "2") == other
    again = build_profile(_frame(2, n=500), model="churn", version=1)
    write_profile(settings, again)
    assert read_profile(settings, "churn", 1) == again
    assert read_profile(settings, "churn", 2) == other
    stored = tables.to_pandas(profiles_table(settings))
    assert sorted(stored.groupby("version").size().items()) == [("1", 3), ("2", 4)]
    row = stored[(stored.version == "1") & (stored.feature == "tenure")].iloc[0]
    assert row["rows"] == 500 and row["kind"] == "numeric" and row["max"] == again.features["tenure"].maximum
    assert json.loads(row["profile"])["edges"][-1] == "inf"


def test_a_profile_of_infinite_values_round_trips(settings) -> None:
    frame = _frame(3)
    frame.loc[:4, "tenure"] = [np.inf, -np.inf, 1.0, 2.0, np.inf]
    profile = build_profile(frame, model="churn", version=7)
    assert math.isinf(profile.features["tenure"].maximum) and math.isinf(profile.features["tenure"].minimum)
    write_profile(settings, profile)
    assert read_profile(settings, "churn", 7) == profile


def test_a_version_without_a_profile_is_not_found(settings) -> None:
    with pytest.raises(NoProfileError, match=r"model:churn@7 has no reference profile in .*monitoring/profiles — "):
        read_profile(settings, "churn", 7)
    write_profile(settings, build_profile(_frame(0), model="churn", version=1))
    with pytest.raises(NoProfileError) as caught:
        read_profile(settings, "churn", 7)
    assert caught.value.exit_code == EXIT_NOT_FOUND
    with pytest.raises(MonitoringError, match=r"names no model version — build it with build_profile\(\.\.\., model="):
        write_profile(settings, build_profile(_frame(0)))


def test_drift_rewritten_for_a_run_date_replaces_it_and_other_dates_stay(settings) -> None:
    profile = build_profile(_frame(0), model="churn", version=3)
    calm = compare(profile, _frame(5))
    shifted = compare(profile, _frame(6, shift=1.0), previous_rows=1000)
    write_drift(settings, calm, "2024-06-01")
    write_drift(settings, calm, "2024-06-02")
    write_drift(settings, shifted, "2024-06-02")  # the run of 06-02 again, with other rows
    stored = read_drift(settings, "churn")
    assert stored.groupby("run_date").size().to_dict() == {"2024-06-01": 3, "2024-06-02": 3}
    day = read_drift(settings, "churn", run_date="2024-06-02", version=3).set_index("feature")
    for column in shifted.columns:
        row = day.loc[column.feature]
        for name in ("psi", "js", "null_rate", "null_rate_change", "p_value", "out_of_range_share"):
            expected = getattr(column, name)
            assert (math.isnan(row[name]) and math.isnan(expected)) or row[name] == expected, name
        assert row["status"] == column.status and json.loads(row["counts"]) == list(column.counts)
        assert json.loads(row["reasons"]) == list(column.reasons)
    assert set(day["report_status"]) == {"alert"} and set(day["previous_rows"]) == {1000}
    assert day.loc["tenure", "status"] == "alert"
    assert read_drift(settings, "other").empty
    assert len(tables.history(drift_table(settings))) == 3


def test_a_bad_run_date_names_it(settings) -> None:
    report = compare(build_profile(_frame(0), model="churn", version=1), _frame(1))
    with pytest.raises(MonitoringError, match=r"run date '06/01/2024' is not a date — write it as YYYY-MM-DD"):
        write_drift(settings, report, "06/01/2024")
