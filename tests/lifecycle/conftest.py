"""Small registered sklearn models with the platform's tags, and a holdout to judge them on.

Models are saved exactly as ``mlflow.sklearn.log_model(serialization_format="cloudpickle")``
writes them, logged under the run artifact ``model/`` and registered, as training does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from .toys import DEFINITIONS, FEATURES


@pytest.fixture(scope="session")
def toy_data() -> tuple[Any, Any]:
    """(train, holdout) pandas frames: 5 features, binary label ``label``, 600 rows each."""
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=1200, n_features=5, n_informative=3, n_redundant=0, random_state=7)
    frame = pd.DataFrame(X, columns=FEATURES).assign(label=y, customer_id=range(len(y)))
    return frame.iloc[:600].reset_index(drop=True), frame.iloc[600:].reset_index(drop=True)


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store with its schema, created once (the migrations take ~20 s here)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(autouse=True)
def mlflow_db(settings, empty_mlflow_db: Path) -> None:
    """Each test starts from a copy of the empty store instead of migrating a new one."""
    import shutil

    target = Path(settings.mlflow_tracking_uri.removeprefix("sqlite:///"))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(empty_mlflow_db, target)


@pytest.fixture
def register(settings, tmp_path) -> Callable[..., int]:
    """``register(name, estimator, train, definitions=..., tags=...)`` -> new version number."""
    import mlflow
    from mlflow import MlflowClient

    from mlplatform.tracking.model_registry import TAG_METRICS, TAG_PRIMARY_METRIC
    from mlplatform.tracking.store import configure, experiment_id

    configure(settings)
    client = MlflowClient()
    counter = iter(range(1000))

    def _register(
        name: str, estimator: Any, train: Any, definitions: dict | None = None, tags: dict | None = None
    ) -> int:
        definitions = definitions or DEFINITIONS
        run = client.create_run(experiment_id(name, settings))
        folder = tmp_path / f"model-{next(counter)}"
        mlflow.sklearn.save_model(
            estimator,
            str(folder),
            serialization_format="cloudpickle",
            input_example=train[FEATURES].head(3),
            pip_requirements=["scikit-learn"],
        )
        client.log_artifacts(run.info.run_id, str(folder), "model")
        client.set_terminated(run.info.run_id)
        try:
            client.get_registered_model(name)
        except mlflow.exceptions.MlflowException:
            client.create_registered_model(name)
        all_tags = {TAG_METRICS: json.dumps(definitions), TAG_PRIMARY_METRIC: definitions["primary"], **(tags or {})}
        mv = client.create_model_version(
            name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id, tags=all_tags
        )
        return int(mv.version)

    return _register


@pytest.fixture
def workdir(tmp_path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path
