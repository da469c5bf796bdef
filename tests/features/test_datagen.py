"""The seeded generator: deterministic, consistent, sized as documented."""

from __future__ import annotations

import pandas as pd

from mlplatform.features.datagen import ChurnDataParams, generate_churn_data


def test_same_seed_same_tables_and_other_seed_differs():
    a = generate_churn_data(ChurnDataParams(customers=200, seed=3))
    b = generate_churn_data(ChurnDataParams(customers=200, seed=3))
    c = generate_churn_data(ChurnDataParams(customers=200, seed=4))
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert not a["activity"].equals(c["activity"])


def test_tables_are_consistent():
    data = generate_churn_data(ChurnDataParams(customers=400))
    activity, support, labels = data["activity"], data["support_contacts"], data["churn_labels"]
    assert 30 < len(activity) / 400 < 70  # ~50 active days per customer and year
    assert not activity.duplicated(["customer_id", "event_time"]).any()
    assert not support.duplicated(["customer_id", "contact_time"]).any()
    assert (support["logged_at"] > support["contact_time"]).all()
    backfilled = (support["logged_at"] - support["contact_time"]) > pd.Timedelta(days=3)
    assert 0.05 < backfilled.mean() < 0.3
    assert set(labels["churned"].unique()) == {0, 1} and 0.02 < labels["churned"].mean() < 0.15
    assert str(labels["label_time"].dtype) == "datetime64[us, UTC]"
    # churned customers produce no activity after their last label month + 30 days
    last_label = labels.groupby("customer_id")["label_time"].max()
    churners = labels.loc[labels["churned"] == 1, "customer_id"].unique()
    last_activity = activity.groupby("customer_id")["event_time"].max()
    late = last_activity.reindex(churners) > last_label.reindex(churners) + pd.Timedelta(days=31)
    assert not late.any()
