"""The image's dependency set, built into a venv, runs the context's entrypoint.

No Docker engine runs here, so this is the closest proof that the image works:
a venv of exactly ``requirements.lock.txt`` + ``requirements.server.txt`` (no MLflow,
no Flask, no platform), and the Dockerfile's CMD run from the context folder.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from serving_support import CACHE, free_port, request, start, stop

from mlplatform.scoring.export import ENTRYPOINT, context_venv


@pytest.fixture(scope="module")
def image_python(context) -> str:
    return str(context_venv(context, CACHE / "venvs") / "bin" / "python")


@pytest.mark.slow
def test_venv_holds_exactly_the_lock_and_gunicorn(context, image_python):
    freeze = subprocess.run(
        [image_python, "-m", "pip", "freeze"], capture_output=True, text=True, check=True
    ).stdout.split()
    wanted = (context / "requirements.lock.txt").read_text().split() + (
        context / "requirements.server.txt"
    ).read_text().split()
    canon = lambda line: line.lower().replace("_", "-")  # noqa: E731
    assert sorted(map(canon, freeze)) == sorted(map(canon, wanted))
    for absent in ("mlflow", "flask", "pyspark", "click", "mlplatform"):
        probe = subprocess.run([image_python, "-c", f"import {absent}"], capture_output=True, text=True)
        assert probe.returncode != 0, f"{absent} is importable in the image's dependency set"


@pytest.mark.slow
def test_the_context_entrypoint_serves_in_that_venv(context, image_python, store, tmp_path):
    port = free_port()
    env = {
        "MLP_HOST": "127.0.0.1",
        "MLP_PORT": str(port),
        "MLP_WORKERS": "1",
        "MLP_THREADS": "2",
        "PYTHONPATH": "",
        "PYTHONNOUSERSITE": "1",
    }
    env = {k: v for k, v in {**os.environ, **env}.items() if not k.startswith("MLP_") or k in env}
    proc = start([image_python, *ENTRYPOINT[1:]], context, env, port, tmp_path / "server.log")
    try:
        assert request(port, "/version")[1]["env_id"] == store.env_id
        records = json.loads(store.frame.to_json(orient="records"))
        status, body = request(port, "/invocations", json.dumps({"dataframe_records": records}))
        assert status == 200 and body["predictions"] == store.model.predict(store.frame).tolist()
        status, body = request(port, "/invocations", store.frame.to_csv(index=False), content_type="text/csv")
        assert status == 200 and body["predictions"] == store.model.predict(store.frame).tolist()
        status, body = request(port, "/invocations", b'{"inputs": {"amount": ["x"]}}')
        assert status == 400 and "missing required column(s)" in body["message"]
    finally:
        stop(proc)
