"""Fixtures for online scoring: a real environment, a registered model, its export, a server.

- The environment is built with ``mlplatform.envs`` from a spec pinning the driver's
  versions of the model's packages (the model is fitted in the driver, so its
  environment must unpickle it). Specs, locks and env artifacts live in a cache
  under ``.mlp/test-cache/serving`` and are reused across runs (ids are content hashes).
- The model is a scikit-learn pipeline logged the way training registers models
  (MLflow directory, cloudpickle, column signature from a pandas example), with the
  ``mlp.env_id`` tag and the ``champion`` alias.
- ``server`` is ``mlp serve`` as a real process on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pytest
from serving_support import (
    CACHE,
    env_spec_text,
    free_port,
    make_frame,
    register,
    start,
    stop,
    train_pipeline,
    workers,
    write_if_changed,
)

REPO = Path(__file__).resolve().parents[2]
MODEL_NAME = "churn_online"
MLP = str(Path(sys.executable).with_name("mlp"))
MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class Store:
    """A session-wide platform home holding one registered model."""

    name: str
    version: int
    env_id: str
    env: dict[str, str]  # MLP_* variables pointing at this store
    home: Path
    model: Any  # the fitted estimator, in this process
    frame: pd.DataFrame  # rows to score

    @property
    def ref(self) -> str:
        return f"{self.name}@champion"


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Build (or reuse) the environment; fit, log and register the model in a fresh home."""
    from mlflow import MlflowClient

    from mlplatform import envs
    from mlplatform.config import load_settings
    from mlplatform.tracking.store import experiment_id

    home = tmp_path_factory.mktemp("serving") / ".mlp"
    env = {"MLP_PROJECT": str(REPO), "MLP_HOME": str(home), "MLP_ARTIFACTS": str(CACHE / "artifacts")}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        settings = load_settings()
        spec = write_if_changed(CACHE / "envs" / "serving-test.yaml", env_spec_text("serving-test"))
        artifact = envs.build(spec, settings)
        frame = make_frame(400)
        model = train_pipeline(frame)
        lock = [f"{name}=={v}" for name, v in sorted(artifact.packages.items())]
        version = register(MODEL_NAME, model, frame, artifact.id, experiment_id("serving-tests", settings), lock)
        MlflowClient().set_registered_model_alias(MODEL_NAME, "champion", str(version))
    yield Store(MODEL_NAME, int(version), artifact.id, env, home, model, make_frame(200, seed=1))


@pytest.fixture(scope="session")
def base_image(store: Store) -> str:
    """The default base, made by the CLI when the engine lacks it (its root tarball cached across runs)."""
    from mlplatform.scoring.images import BASE_IMAGE, image_exists, require_engine

    require_engine()
    if not image_exists(BASE_IMAGE):
        env = {**os.environ, **store.env, "MLP_HOME": str(CACHE.parent / "docker")}
        result = subprocess.run([MLP, "export", "base-image"], capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr
    return BASE_IMAGE


@pytest.fixture
def use_store(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    """Point this test's settings at the session store."""
    for key, value in store.env.items():
        monkeypatch.setenv(key, value)
    return store


@pytest.fixture(scope="session")
def context(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model's Docker build context, written by the library."""
    from mlplatform.config import load_settings
    from mlplatform.scoring.export import export_docker

    out = tmp_path_factory.mktemp("export") / "context"
    with pytest.MonkeyPatch.context() as mp:
        for key, value in store.env.items():
            mp.setenv(key, value)
        return export_docker(store.ref, out, load_settings())


@dataclass(frozen=True)
class Server:
    port: int
    pid: int
    log: Path


@pytest.fixture(scope="session")
def server(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``mlp serve`` on a free loopback port, two workers, a 1 MiB body limit.

    It runs this interpreter (its packages are the environment's pins); the image's own
    dependency set is exercised by test_context_venv.py.
    """
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    argv = [
        MLP,
        "serve",
        store.ref,
        "--port",
        str(port),
        "--workers",
        "2",
        "--max-body-bytes",
        str(MAX_BODY),
        "--python",
        sys.executable,
    ]
    proc = start(argv, None, store.env, port, log)
    try:
        assert len(workers(proc.pid, expect=2)) == 2, log.read_text()
        yield Server(port, proc.pid, log)
    finally:
        stop(proc)
