"""The server hands a model the bare float matrix only when the model answers it as it answers named columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from wsgi_client import post

from mlplatform.scoring import server

COLUMNS = ["a", "b", "c"]


def _frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, len(COLUMNS))), columns=COLUMNS)


def _labels(frame: pd.DataFrame) -> np.ndarray:
    return (frame["a"] - 2 * frame["c"] > 0).astype("int64").to_numpy()


def _app(model: Any, types: dict[str, str], tmp_path: Path) -> server.ScoringApp:
    columns = tuple(server.ColumnSpec(name, kind) for name, kind in types.items())
    config = server.ServingConfig("m", 1, None, tmp_path / "model.pkl", "predict", columns)
    return server.ScoringApp(config, model)


def _answer(app: server.ScoringApp, frame: pd.DataFrame) -> list[Any]:
    body = json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}).encode()
    status, answer = post(app, body)
    assert status == "200 OK", answer
    return json.loads(answer)["predictions"]


def test_a_plain_estimator_gets_the_matrix_and_answers_like_the_frame(tmp_path: Path) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    train = _frame(500)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(train, _labels(train))
    app = _app(model, dict.fromkeys(COLUMNS, "double"), tmp_path)
    assert app.takes_matrix
    rows = _frame(40, seed=1)
    assert _answer(app, rows) == model.predict(rows).tolist()
    assert _answer(app, rows.iloc[[3]]) == model.predict(rows.iloc[[3]]).tolist()


def test_a_model_selecting_columns_by_name_keeps_getting_frames(tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = _frame(500)
    by_name = ColumnTransformer([("scaled", StandardScaler(), ["c", "a"])])
    model = make_pipeline(by_name, LogisticRegression()).fit(train, _labels(train))
    app = _app(model, dict.fromkeys(COLUMNS, "double"), tmp_path)
    assert not app.takes_matrix
    rows = _frame(40, seed=2)
    assert _answer(app, rows) == model.predict(rows).tolist()


class _ByPosition:
    """A model reading its columns by position in another order than the signature's: its answers differ."""

    def predict(self, X: Any) -> np.ndarray:
        values = X[["c", "b", "a"]].to_numpy() if isinstance(X, pd.DataFrame) else np.asarray(X)
        return values[:, 0] * 10 + values[:, 2]


@pytest.mark.parametrize(
    "model, types",
    [
        (_ByPosition(), dict.fromkeys(COLUMNS, "double")),
        (_ByPosition(), {"a": "double", "b": "float", "c": "double"}),
    ],
    ids=["answers-differ", "mixed-types"],
)
def test_no_matrix_when_answers_or_types_differ(model: Any, types: dict[str, str], tmp_path: Path) -> None:
    app = _app(model, types, tmp_path)
    assert not app.takes_matrix
    rows = _frame(5, seed=3)
    assert _answer(app, rows) == pytest.approx(model.predict(rows.astype({k: np.float64 for k in types})).tolist())
