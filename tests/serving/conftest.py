"""Fixtures for online scoring: one registered model, its export context, a running server.

The model is a scikit-learn pipeline logged the way the training job registers
models (MLflow directory, cloudpickle, column signature from a pandas example),
with the ``mlp.env_id`` tag and the ``champion`` alias set by hand.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pytest


REPO = Path(__file__).resolve().parents[2]
MODEL_NAME = "churn_online"


@dataclass(frozen=True)
class Registered:
    name: str
    version: int
    env: dict[str, str]  # MLP_* variables that point at the store holding the model
    home: Path


@pytest.fixture(scope="session")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registered]:
    """A model version registered in a session-wide store, alias champion, env tag set."""
    import mlflow
    from mlflow import MlflowClient

    from mlplatform.config import load_settings
    from mlplatform.registry import TAG_ENV_ID
    from mlplatform.tracking import experiment_id

    home = tmp_path_factory.mktemp("serving") / ".mlp"
    env = {"MLP_PROJECT": str(REPO), "MLP_HOME": str(home)}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        settings = load_settings()
        frame = make_frame(400)
        model = train_pipeline(frame)
        with mlflow.start_run(experiment_id=experiment_id("serving-tests", settings)) as run:
            mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle", input_example=frame.head(3))
        mv = mlflow.register_model(f"runs:/{run.info.run_id}/model", MODEL_NAME)
        client = MlflowClient()
        client.set_model_version_tag(MODEL_NAME, mv.version, TAG_ENV_ID, "env:serving-test@000000000000")
        client.set_registered_model_alias(MODEL_NAME, "champion", mv.version)
    yield Registered(MODEL_NAME, int(mv.version), env, home)
