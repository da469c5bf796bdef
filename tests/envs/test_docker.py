"""The Dockerfile dependency layer: parsed with dockerfile-parse, and its RUN step executed here.

The layer sits on ``python:<version>-slim``, which no registry here serves, so its RUN
command is run with the environment's base interpreter standing in for the image's
``python``. The scoring image (hermetic, on a debootstrap'd base) is built by a real
engine in tests/serving/test_docker_image.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from mlplatform import envs
from mlplatform.envs.docker import ENV_DIR

pytestmark = pytest.mark.slow


def _parse(text: str, tmp_path: Path) -> DockerfileParser:
    parser = DockerfileParser(path=str(tmp_path / "Dockerfile"))
    parser.content = text
    return parser


def test_layer_pins_exactly_the_lock(built_env, tmp_path):
    artifact = built_env.artifact
    parser = _parse(f"FROM {envs.docker_base_image(artifact)}\n" + envs.dockerfile_dependency_layer(artifact), tmp_path)
    assert parser.baseimage == f"python:{artifact.python_version}-slim"
    assert parser.envs["MLP_ENV_ID"] == artifact.id
    assert parser.envs["VIRTUAL_ENV"] == ENV_DIR
    runs = [i["value"] for i in parser.structure if i["instruction"] == "RUN"]
    assert len(runs) == 1
    pins = {token for token in runs[0].split() if "==" in token}
    assert pins == {f"{name}=={version}" for name, version in artifact.packages.items()}


def test_layer_run_step_installs_the_locked_versions(built_env, tmp_path):
    artifact = built_env.artifact
    parser = _parse(envs.dockerfile_dependency_layer(artifact), tmp_path)
    run = next(i["value"] for i in parser.structure if i["instruction"] == "RUN")
    target = tmp_path / "opt-env"
    base = artifact.manifest["python"]["executable"]
    script = run.replace(ENV_DIR, str(target))
    assert script.startswith("python -m venv ")
    subprocess.run(["bash", "-ec", base + script[len("python") :]], check=True, capture_output=True, timeout=900)
    code = (
        "import json; from importlib import metadata as m; "
        "print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"
    )
    installed = json.loads(
        subprocess.run([str(target / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True).stdout
    )
    for name, version in artifact.packages.items():
        assert installed[name] == version, name
