"""The image of a model whose environment carries its interpreter (``builder: portable``, the default).

The session's model is registered a second time with a portable environment of the same
pins; its image is the base plus the very archive the executors run, unpacked: every file
of the archive is in ``/opt/mlp/env`` with the same bytes (the only additions are the
bytecode caches Python writes), the interpreter is the archive's, and the container answers
like the fitted model.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from typing import Iterator

import pytest
from serving_support import CACHE, docker, env_spec_text, free_port, register, request, wait_for_ping, write_if_changed

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAME = "churn_online_portable"
# Every regular file under /opt/mlp/env with its sha256, and every symlink with its target, as JSON.
LISTING = """
import hashlib, json, os
root, out = "/opt/mlp/env", {}
for folder, dirs, files in os.walk(root):
    for name in dirs + files:
        path = os.path.join(folder, name)
        rel = os.path.relpath(path, root)
        if os.path.islink(path):
            out[rel] = "-> " + os.readlink(path)
        elif os.path.isfile(path):
            out[rel] = hashlib.sha256(open(path, "rb").read()).hexdigest()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def portable(store) -> Iterator[tuple[object, str]]:  # type: ignore[no-untyped-def]
    """The portable env of the session's pins, the model registered with it, and its image."""
    from mlflow import MlflowClient

    from mlplatform import envs
    from mlplatform.config import load_settings
    from mlplatform.scoring.export import export_docker
    from mlplatform.scoring.images import build_image
    from mlplatform.tracking.store import experiment_id

    with pytest.MonkeyPatch.context() as mp:
        for key, value in store.env.items():
            mp.setenv(key, value)
        settings = load_settings()
        spec = write_if_changed(CACHE / "envs" / "serving-portable.yaml", env_spec_text("serving-portable", "portable"))
        artifact = envs.build(spec, settings)
        lock = [f"{name}=={v}" for name, v in sorted(artifact.packages.items())]
        version = register(NAME, store.model, store.frame, artifact.id, experiment_id("serving-tests", settings), lock)
        MlflowClient().set_registered_model_alias(NAME, "champion", str(version))
        context = export_docker(f"{NAME}@champion", store.home.parent / "portable-context", settings)
    tag = build_image(context, "mlp-test-churn-portable:session")
    yield artifact, tag
    docker("rmi", "--force", tag, check=False)


def _archive_listing(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    with tarfile.open(path) as tar:
        for member in tar:
            rel = os.path.normpath(member.name)
            if member.issym():
                out[rel] = "-> " + member.linkname
            elif member.isfile():
                out[rel] = hashlib.sha256(tar.extractfile(member).read()).hexdigest()  # type: ignore[union-attr]
    return out


def test_the_image_holds_the_archive_byte_for_byte_and_answers_like_the_model(base_image, portable, store):
    artifact, tag = portable
    labels = json.loads(docker("inspect", "--format", "{{json .Config.Labels}}", tag).stdout)
    assert labels["org.mlplatform.env.id"] == artifact.id
    assert labels["org.mlplatform.env.sha256"] == hashlib.sha256(open(artifact.uri, "rb").read()).hexdigest()
    in_image = json.loads(docker("run", "--rm", "--network", "none", tag, "python", "-c", LISTING).stdout)
    archive = _archive_listing(artifact.uri)
    assert len(archive) > 1000
    differing = sorted(rel for rel, digest in archive.items() if in_image.get(rel) != digest)
    assert differing == []
    extra = sorted(rel for rel in set(in_image) - set(archive) if "__pycache__" not in rel.split(os.sep))
    assert extra == []
    prefix = docker("run", "--rm", "--network", "none", tag, "python", "-c", "import sys; print(sys.base_prefix)")
    assert prefix.stdout.strip() == "/opt/mlp/env"

    name, port = f"mlp-test-portable-{os.getpid()}", free_port()
    docker(
        "run", "--detach", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
        "--env", f"MLP_PORT={port}", "--env", "MLP_WORKERS=1", tag,
    )  # fmt: skip
    try:
        wait_for_ping(port, f"container {name}")
        payload = {"dataframe_split": json.loads(store.frame.to_json(orient="split", index=False))}
        status, body = request(port, "/invocations", json.dumps(payload))
        assert status == 200, body
        assert body == {"predictions": store.model.predict(store.frame).tolist()}
    finally:
        docker("rm", "--force", name, check=False)
