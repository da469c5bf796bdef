"""Seeded generator of churn-style event data: the demo's, the tests' and the benchmarks' raw tables.

Customers have a hidden engagement level that drifts day by day (some customers
start a steady decline). Engagement drives how often they are active, how much
they do, how often they contact support and complain, and — with complaints —
their daily churn hazard. Churned customers stop producing events. Monthly
label snapshots say whether an active customer churns in the next 30 days, so
the label is learnable from point-in-time features (recent activity, its trend,
support history) but never trivially.

Tables (pandas, timestamps UTC in microseconds):

- ``customers``: customer_id, signup_time, plan, region, age, monthly_fee
- ``activity``: customer_id, event_time (end of the day), day, logins, minutes,
  txn_count, txn_amount, balance — one row per customer and active day
- ``support_contacts``: customer_id, contact_time, logged_at (when the contact
  reached the warehouse; some are backfilled weeks later), channel, complaint, csat
- ``churn_labels``: customer_id, label_time (00:00 on the 1st of a month),
  churned (1 when the customer leaves within 30 days)

Everything is a pure function of the parameters and the seed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from mlplatform import tables
from mlplatform.config import Settings
from mlplatform.errors import FeatureError
from mlplatform.features.definitions import features_dir

__all__ = ["ChurnDataParams", "generate_churn_data", "raw_config", "write_raw_tables"]

log = logging.getLogger(__name__)

_PLANS = np.array(["basic", "standard", "premium"])
_FEES = np.array([9.99, 19.99, 39.99])
_REGIONS = np.array(["north", "south", "east", "west", "central"])
_CHANNELS = np.array(["phone", "chat", "email"])
_DAY_US = 86_400_000_000


@dataclass(frozen=True)
class ChurnDataParams:
    """Sizes and rates of the generated data.

    Attributes:
        customers: number of customers (activity rows ≈ 50 per customer at the default rate).
        days: length of the period in days.
        start: first day (ISO date, UTC).
        seed: random seed; the same parameters always give the same tables.
        activity_rate: scales the daily probability of being active.
        contacts_per_year: mean support contacts per customer and year at average engagement.
        backfill_share: share of support contacts logged 3-45 days late.
        label_frequency: pandas frequency of the label snapshots ("MS" monthly, "SMS" twice a month).
    """

    customers: int = 1000
    days: int = 365
    start: str = "2024-01-01"
    seed: int = 7
    activity_rate: float = 1.0
    contacts_per_year: float = 4.0
    backfill_share: float = 0.15
    label_frequency: str = "MS"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _customers(p: ChurnDataParams, rng: np.random.Generator, t0: pd.Timestamp) -> pd.DataFrame:
    n = p.customers
    before = rng.random(n) < 0.7
    offset = np.where(before, -rng.integers(30, 1500, size=n), rng.integers(0, max(1, int(p.days * 0.8)), size=n))
    plan = rng.choice(3, size=n, p=[0.5, 0.35, 0.15])
    seconds = rng.integers(0, 86_400, size=n)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1, dtype=np.int64),
            "signup_time": t0 + pd.to_timedelta(offset, unit="D") + pd.to_timedelta(seconds, unit="s"),
            "plan": _PLANS[plan],
            "region": _REGIONS[rng.integers(0, len(_REGIONS), size=n)],
            "age": rng.integers(18, 80, size=n).astype(np.int32),
            "monthly_fee": _FEES[plan],
            "_plan": plan,
            "_signup_day": offset,
        }
    )


def generate_churn_data(params: ChurnDataParams | None = None) -> dict[str, pd.DataFrame]:
    """Generate the four raw tables (see the module docstring)."""
    p = params or ChurnDataParams()
    rng = np.random.default_rng(p.seed)
    t0 = pd.Timestamp(p.start, tz="UTC")
    customers = _customers(p, rng, t0)
    n = p.customers

    log_e = rng.normal(0.0, 0.5, size=n) + 0.15 * customers["_plan"].to_numpy()
    decline_day = np.where(rng.random(n) < 0.35, rng.integers(0, p.days, size=n), p.days + 1)
    decline_rate = rng.uniform(0.01, 0.04, size=n)
    balance = rng.gamma(2.0, 400.0, size=n)
    signup_day = customers["_signup_day"].to_numpy()
    plan_risk = np.array([0.25, 0.0, -0.35])[customers["_plan"].to_numpy()]
    churn_day = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    complaints_recent = np.zeros(n)  # exponentially decayed complaint count (~30-day memory)

    activity, contacts = [], []
    for day in range(p.days):
        alive = (signup_day <= day) & (churn_day > day)
        log_e += rng.normal(0.0, 0.04, size=n) - np.where(day >= decline_day, decline_rate, 0.0)
        log_e = np.clip(log_e, -3.0, 2.0)
        e = np.exp(log_e)
        complaints_recent *= np.exp(-1 / 30)

        active = alive & (rng.random(n) < p.activity_rate * _sigmoid(-1.9 + 1.6 * log_e))
        idx = np.flatnonzero(active)
        if idx.size:
            logins = 1 + rng.poisson(2.0 * e[idx])
            txn = rng.poisson(1.2 * e[idx])
            amount = np.round(rng.gamma(np.maximum(txn, 1) * 1.5, 25.0) * (txn > 0), 2)
            balance[idx] = np.maximum(0.0, balance[idx] + rng.normal(20 * log_e[idx], 60.0))
            activity.append(
                (
                    idx,
                    np.full(idx.size, day),
                    logins,
                    np.round(rng.gamma(2.0, 6.0 * e[idx]) * logins, 1),
                    txn,
                    amount,
                    np.round(balance[idx], 2),
                )
            )

        rate = p.contacts_per_year / 365.0 * (0.5 + 3.0 * _sigmoid(-2.0 * log_e))
        contact = alive & (rng.random(n) < rate)
        cidx = np.flatnonzero(contact)
        if cidx.size:
            complaint = rng.random(cidx.size) < _sigmoid(-1.2 - 1.5 * log_e[cidx])
            csat = np.clip(np.round(rng.normal(np.where(complaint, 2.0, 4.0), 0.8)), 1, 5).astype(np.int32)
            complaints_recent[cidx] += complaint
            contacts.append((cidx, np.full(cidx.size, day), complaint, csat))

        hazard = 0.0009 * np.exp(-1.3 * log_e + 0.9 * complaints_recent + plan_risk)
        churn_day[alive & (rng.random(n) < hazard)] = day

    ids = customers["customer_id"].to_numpy()
    tables = {
        "customers": customers.drop(columns=["_plan", "_signup_day"]),
        "activity": _activity_frame(activity, ids, t0),
        "support_contacts": _contacts_frame(contacts, ids, t0, p, rng),
        "churn_labels": _labels(ids, signup_day, churn_day, t0, p.days, p.label_frequency),
    }
    for name, frame in tables.items():
        log.info("generated %s: %d rows", name, len(frame))
    return tables


def _micros_after(t0: pd.Timestamp, micros: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(t0.value // 1000 + micros, unit="us", utc=True)).astype("datetime64[us, UTC]")


def _activity_frame(parts: list[tuple[np.ndarray, ...]], ids: np.ndarray, t0: pd.Timestamp) -> pd.DataFrame:
    cols = [np.concatenate([part[i] for part in parts]) if parts else np.array([], dtype=np.int64) for i in range(7)]
    idx, day, logins, minutes, txn, amount, balance = cols
    day = day.astype(np.int64)
    return pd.DataFrame(
        {
            "customer_id": ids[idx],
            "event_time": _micros_after(t0, (day + 1) * _DAY_US - 1_000_000),  # 23:59:59: the day's totals
            "day": (pd.Timestamp(t0.date()) + pd.to_timedelta(day, unit="D")).date,
            "logins": logins.astype(np.int32),
            "minutes": minutes.astype(np.float64),
            "txn_count": txn.astype(np.int32),
            "txn_amount": amount.astype(np.float64),
            "balance": balance.astype(np.float64),
        }
    )


def _contacts_frame(
    parts: list[tuple[np.ndarray, ...]], ids: np.ndarray, t0: pd.Timestamp, p: ChurnDataParams, rng: np.random.Generator
) -> pd.DataFrame:
    cols = [np.concatenate([part[i] for part in parts]) if parts else np.array([], dtype=np.int64) for i in range(4)]
    idx, day, complaint, csat = cols
    m = idx.size
    at = day.astype(np.int64) * _DAY_US + rng.integers(8 * 3600, 20 * 3600, size=m) * 1_000_000
    delay_s = np.where(
        rng.random(m) < p.backfill_share,
        rng.integers(3 * 86_400, 45 * 86_400, size=m),
        rng.integers(60, 6 * 3600, size=m),
    )
    return pd.DataFrame(
        {
            "customer_id": ids[idx],
            "contact_time": _micros_after(t0, at),
            "logged_at": _micros_after(t0, at + delay_s * 1_000_000),
            "channel": _CHANNELS[rng.integers(0, len(_CHANNELS), size=m)],
            "complaint": complaint.astype(bool),
            "csat": csat.astype(np.int32),
        }
    )


def _labels(
    ids: np.ndarray, signup_day: np.ndarray, churn_day: np.ndarray, t0: pd.Timestamp, days: int, frequency: str
) -> pd.DataFrame:
    """Snapshots (monthly by default) of customers signed up 14+ days earlier and not yet churned."""
    months = pd.date_range(t0 + pd.DateOffset(months=1), t0 + pd.Timedelta(days=days - 30), freq=frequency)
    frames = []
    for month in months:
        d = (month - t0).days
        eligible = (signup_day <= d - 14) & (churn_day >= d)
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": ids[eligible],
                    "label_time": _micros_after(t0, np.full(int(eligible.sum()), d * _DAY_US, dtype=np.int64)),
                    "churned": ((churn_day[eligible] >= d) & (churn_day[eligible] < d + 30)).astype(np.int32),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def raw_config(path: str | Path | None = None) -> dict[str, Any]:
    """The checked-in description of the demo's raw tables (``conf/features/_raw.yaml``)."""

    path = Path(path) if path else features_dir() / "_raw.yaml"
    if not path.is_file():
        raise FeatureError(f"raw-data config {path} does not exist", "restore conf/features/_raw.yaml")
    return yaml.safe_load(path.read_text())


def write_raw_tables(
    settings: Settings, size: str = "small", customers: int | None = None, seed: int | None = None, **rates: Any
) -> dict[str, tuple[str, int, int]]:
    """Generate the raw tables and overwrite them in the warehouse (one commit each, deltalake).

    Args:
        size: a size from ``_raw.yaml`` (tiny, small, medium, large).
        customers, seed: override the size's customer count and the seed.
        rates: other :class:`ChurnDataParams` fields (``contacts_per_year=...``).

    Returns:
        table -> (location, version, rows).
    """
    conf = raw_config()
    if size not in conf["sizes"]:
        raise FeatureError(f"unknown data size '{size}'", f"sizes in _raw.yaml: {', '.join(conf['sizes'])}")
    params = ChurnDataParams(
        customers=conf["sizes"][size]["customers"], days=conf["days"], start=conf["start"], seed=conf["seed"]
    )
    params = replace(
        params, **{k: v for k, v in dict(customers=customers, seed=seed, **rates).items() if v is not None}
    )
    frames = generate_churn_data(params)
    out = {}
    for name, frame in frames.items():
        uri = tables.resolve_name(settings, conf["tables"][name])
        version = tables.write_pandas(
            frame,
            uri,
            mode="overwrite",
            metadata=tables.commit_metadata(
                operation="features.generate",
                generator="churn",
                size=size,
                **{k: v for k, v in params.__dict__.items()},
            ),
        )
        out[name] = (uri, version, len(frame))
    return out
