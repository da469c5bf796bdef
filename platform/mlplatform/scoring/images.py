"""The Docker engine side of online scoring: base image, image build, local container.

- :func:`require_engine`: a one-line error (how to start one) when no engine answers;
- :func:`build_base_image`: the default base, a debootstrap'd bookworm root with python3,
  ``docker import``-ed (no registry is needed);
- :func:`build_image`: ``docker build --network none`` of an exported context, refusing a
  context whose base image the engine lacks;
- :func:`run_image`: the image in the foreground, ``--network host``, read-only root with a
  tmpfs ``/tmp``; stopping the caller (Ctrl-C) stops and removes the container.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Sequence

from mlplatform.config import Settings
from mlplatform.envs.debian_root import DEFAULT_SUITE, root_tarball
from mlplatform.errors import ScoringError

__all__ = [
    "BASE_IMAGE",
    "BASE_PACKAGES",
    "require_engine",
    "image_exists",
    "build_base_image",
    "build_image",
    "image_tag",
    "run_image",
]

log = logging.getLogger(__name__)

BASE_IMAGE = f"mlp-base:{DEFAULT_SUITE}"
# bookworm's python3 is 3.11, the Python of the platform's environments; python3-venv brings pip's wheel.
BASE_PACKAGES = ("python3", "python3-venv")
_START = "start one: scripts/docker-engine start (or point DOCKER_HOST at a running engine)"


def _docker(args: Sequence[str], what: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; a failure is a ScoringError naming ``what`` with docker's last line."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise ScoringError(f"{what} failed: {last}", "see the docker output above; re-running is safe")
    return result


def require_engine() -> None:
    """Raise a one-line error saying how to start an engine when none answers."""
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if shutil.which("docker") is None:
        raise ScoringError("the docker command is not installed, so no image can be built or run", _START)
    result = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    if result.returncode != 0 or not result.stdout.strip():
        raise ScoringError(f"no Docker engine answers at {where}", _START)


def image_exists(tag: str) -> bool:
    """True when the engine holds an image ``tag``."""
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def build_base_image(settings: Settings, tag: str = BASE_IMAGE, refresh: bool = False) -> str:
    """Import the default base image from a minbase root with :data:`BASE_PACKAGES`; returns ``tag``.

    The root tarball is cached under ``<home>/cache/debian-roots`` (debootstrap runs once);
    an engine that already holds ``tag`` is left as it is unless ``refresh``.
    """
    require_engine()
    if image_exists(tag) and not refresh:
        log.info("base image %s is already in the engine", tag)
        return tag
    tarball = root_tarball(Path(settings.home) / "cache" / "debian-roots", BASE_PACKAGES)
    log.info("importing %s from %s", tag, tarball)
    _docker(
        [
            "import",
            "--change",
            'CMD ["/bin/bash"]',
            "--message",
            f"mlp export base-image ({tarball.name})",
            str(tarball),
            tag,
        ],
        f"docker import of {tarball} as {tag}",
    )
    return tag


def image_tag(context: str | os.PathLike[str]) -> str:
    """The default tag of a context's image: ``mlp-<model>:<version>``."""
    config = json.loads((Path(context) / "serving.json").read_text())
    return f"mlp-{config['model_name'].lower()}:{config['model_version']}"


def build_image(context: str | os.PathLike[str], tag: str | None = None) -> str:
    """``docker build --network none`` of an exported context; returns the image tag.

    Raises:
        ScoringError: no engine, the context's base image missing, a failed build.
    """
    context = Path(context)
    config = json.loads((context / "serving.json").read_text())
    tag = tag or image_tag(context)
    require_engine()
    base = config["base_image"]
    if not image_exists(base):
        hint = "make it: mlp export base-image" + ("" if base == BASE_IMAGE else f" --tag {base}")
        raise ScoringError(f"the base image {base} of {context} is not in the Docker engine", hint)
    started = time.monotonic()
    log.info("building %s from %s (no network)", tag, context)
    _docker(
        ["build", "--network", "none", "--tag", tag, str(context)],
        f"docker build of {context}",
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )
    log.info("built %s in %.0f s", tag, time.monotonic() - started)
    return tag


def run_image(tag: str, options: dict[str, str], name: str) -> int:
    """Run ``tag`` in the foreground as container ``name``; returns its exit code.

    ``options`` are the server's ``MLP_*`` variables. The container shares the host's
    network, has a read-only root and a tmpfs ``/tmp``, and is removed when it ends or
    when the caller is interrupted.
    """
    require_engine()
    argv = ["docker", "run", "--rm", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp"]
    for key, value in sorted(options.items()):
        argv += ["--env", f"{key}={value}"]
    try:
        return subprocess.run([*argv, tag]).returncode
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True)
