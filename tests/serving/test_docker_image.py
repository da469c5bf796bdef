"""The scoring image built and run by a real Docker engine (``docker`` tier; scripts/test starts the engine).

The image of the session's model (tests/serving/conftest.py) is built once with
``docker build --network none`` on the base ``mlp export base-image`` makes (kept in the
engine and its root tarball under ``.mlp/test-cache/docker``, so later runs reuse both),
and run once, read-only with a tmpfs ``/tmp``, on a free port of the host network.
Predictions are compared with the fitted model's own ``predict`` in this process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from conftest import MLP
from serving_support import DOCKER_WAIT_SECONDS, docker, free_port, request, wait_for_ping

from mlplatform.scoring.images import build_image


@pytest.fixture(scope="module")
def image(base_image: str, context: Path) -> str:
    return build_image(context, "mlp-test-churn-online:session")


@dataclass(frozen=True)
class Container:
    name: str
    port: int


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[Container]:
    name, port = f"mlp-test-{os.getpid()}", free_port()
    docker(
        "run", "--detach", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
        "--health-interval", "1s", "--env", f"MLP_PORT={port}", "--env", "MLP_WORKERS=1", image,
    )  # fmt: skip
    try:
        wait_for_ping(port, f"container {name}")
        yield Container(name, port)
    finally:
        docker("rm", "--force", name, check=False)


pytestmark = pytest.mark.docker


def test_image_carries_model_env_and_archive_labels_and_a_non_root_user(image, store):
    from mlplatform import envs
    from mlplatform.config import load_settings

    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    artifact = envs.resolve(store.env_id, load_settings(environ=store.env))
    assert config["Labels"] == {
        "org.mlplatform.model.id": f"model:{store.name}@{store.version}",
        "org.mlplatform.env.id": store.env_id,
        "org.mlplatform.env.sha256": artifact.sha256,
    }
    assert config["User"] == "10001:10001" and config["Healthcheck"]["Test"][0] == "CMD"


def test_image_holds_exactly_the_lock_and_the_server(image, context):
    code = "import json; from importlib import metadata as m; print(json.dumps(sorted(f\"{d.metadata['Name'].lower()}=={d.version}\" for d in m.distributions())))"  # noqa: E501
    out = docker("run", "--rm", "--network", "none", image, "python", "-c", code).stdout
    wanted = (context / "requirements.lock.txt").read_text().split() + (
        context / "requirements.server.txt"
    ).read_text().split()  # noqa: E501
    assert sorted(n.replace("_", "-") for n in json.loads(out)) == sorted(wanted)


def test_container_answers_ping_and_predicts_like_the_local_model(container, store):
    assert request(container.port, "/ping") == (200, {"status": "ok"})
    payload = {"dataframe_split": json.loads(store.frame.to_json(orient="split", index=False))}
    status, body = request(container.port, "/invocations", json.dumps(payload))
    assert status == 200, body
    assert body == {"predictions": store.model.predict(store.frame).tolist()}


def test_mlflow_scoring_client_talks_to_the_container(container, store):
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    client = ScoringServerClient("127.0.0.1", container.port)
    client.ping()
    predictions = client.invoke(store.frame.head(50)).get_predictions()
    assert predictions.iloc[:, 0].tolist() == store.model.predict(store.frame.head(50)).tolist()


def test_container_runs_as_uid_10001_on_a_read_only_root_with_a_writable_tmp(container):
    assert docker("exec", container.name, "id", "-u").stdout.strip() == "10001"
    assert docker("exec", container.name, "touch", "/app/x", check=False).returncode != 0
    assert docker("exec", container.name, "touch", "/tmp/x").returncode == 0


def test_healthcheck_turns_healthy(container):
    deadline = time.monotonic() + DOCKER_WAIT_SECONDS
    status = None
    while time.monotonic() < deadline:
        status = docker("inspect", "--format", "{{.State.Health.Status}}", container.name).stdout.strip()
        if status == "healthy":
            break
        time.sleep(0.5)
    assert status == "healthy"


def test_mlp_serve_docker_runs_the_image_and_ctrl_c_removes_it(image, store):
    port = free_port()
    env = {**os.environ, **store.env}
    proc = subprocess.Popen(
        [MLP, "serve", "--docker", store.ref, "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_ping(port, "mlp serve --docker")
        names = docker("ps", "--filter", f"name=mlp-serve-{store.name}", "--format", "{{.Names}}").stdout.split()
        assert len(names) == 1
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        assert docker("ps", "--all", "--filter", f"name={names[0]}", "--quiet").stdout.strip() == ""
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# Bad input: each is one line naming the object and the fix.


def test_no_engine_is_one_line_saying_how_to_start_one(store, tmp_path):
    env = {**os.environ, **store.env, "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    res = subprocess.run([MLP, "serve", "--docker", store.ref], capture_output=True, text=True, env=env)
    assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
    assert f"no Docker engine answers at unix://{tmp_path}/none.sock" in res.stderr
    assert "scripts/docker-engine start" in res.stderr


def test_a_missing_base_image_says_how_to_make_it(image, context, tmp_path):
    from mlplatform.errors import ScoringError

    copy = tmp_path / "ctx"
    shutil.copytree(context, copy)
    config = json.loads((copy / "serving.json").read_text())
    (copy / "serving.json").write_text(json.dumps({**config, "base_image": "mlp-base:missing"}))
    with pytest.raises(ScoringError, match=r"base image mlp-base:missing of .* is not in the Docker engine") as err:
        build_image(copy)
    assert err.value.hint == "make it: mlp export base-image --tag mlp-base:missing"


@pytest.mark.slow
def test_an_archive_that_differs_from_its_manifest_is_refused(store, tmp_path):
    from mlplatform import envs
    from mlplatform.config import load_settings
    from mlplatform.errors import EnvError

    artifact = envs.resolve(store.env_id, load_settings(environ=store.env))
    artifacts = tmp_path / "artifacts"
    shutil.copytree(Path(artifact.folder).parents[2], artifacts)
    with open(artifacts / "envs" / artifact.name / artifact.hash / "env.tar.gz", "ab") as fh:
        fh.write(b"x")
    env = {**os.environ, **store.env, "MLP_ARTIFACTS": str(artifacts)}
    res = subprocess.run(
        [MLP, "export", "docker", store.ref, "--out", str(tmp_path / "ctx")], capture_output=True, text=True, env=env
    )
    assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
    assert f"the archive of {artifact.id}" in res.stderr and "differs from the manifest" in res.stderr
    assert f"mlp env build {artifact.name}" in res.stderr and not (tmp_path / "ctx").exists()
    with pytest.raises(EnvError):
        envs.verify_archive(envs.resolve(store.env_id, load_settings(environ=env)), load_settings(environ=env))


@pytest.mark.slow
def test_a_lock_entry_without_a_wheel_would_need_the_network(tmp_path):
    from mlplatform.errors import ScoringError
    from mlplatform.scoring.wheelhouse import wheelhouse

    version = ".".join(map(str, sys.version_info[:3]))
    with pytest.raises(ScoringError, match=r"env:x@0: pyspark==4\.2\.0 has no wheel .* without the network") as err:
        wheelhouse(["cloudpickle==3.1.2", "pyspark==4.2.0"], version, tmp_path / "wheels", "env:x@0")
    assert "pin a version that ships a wheel" in err.value.hint
