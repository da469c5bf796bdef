"""Helpers shared by the online-scoring tests (models, ports, server processes)."""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd


def make_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """Rows with one column of each common signature type: double, long, string, boolean."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.normal(100.0, 30.0, n),
            "visits": rng.integers(0, 20, n).astype("int64"),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "member": rng.random(n) < 0.5,
        }
    )


def train_pipeline(frame: pd.DataFrame):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    label = ((frame["amount"] > 100) ^ frame["member"] ^ (frame["city"] == "nice")).astype(int)
    prep = ColumnTransformer(
        [("num", "passthrough", ["amount", "visits", "member"]), ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["city"])]
    )
    return Pipeline([("prep", prep), ("clf", HistGradientBoostingClassifier(max_iter=30, random_state=0))]).fit(frame, label)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


