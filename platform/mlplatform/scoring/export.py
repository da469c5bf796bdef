"""Docker build context for online scoring: model + server + the model's environment.

``export_docker("churn@champion", "build/churn")`` writes::

    build/churn/
      Dockerfile                slim Python of the env, lock layer, gunicorn, non-root, HEALTHCHECK
      requirements.lock.txt     the environment lock, installed exactly (pip --no-deps)
      requirements.server.txt   gunicorn, pinned, and nothing else
      model/                    the registered MLflow model directory (MLmodel, model.pkl, ...)
      serving.json              model name, version, env id, signature, limits
      mlp_scoring_server.py     the WSGI app (mlplatform/scoring/server.py)
      mlp_server_metrics.py     its /metrics (server_metrics.py), mlp_inference_spool.py its inference log
      gunicorn.conf.py          server settings, all from MLP_* variables

``docker build build/churn`` makes the image; ``mlp serve`` runs :data:`ENTRYPOINT`
from the same context without Docker.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlplatform import envs
from mlplatform.config import Settings
from mlplatform.envs.interpreters import find_python
from mlplatform.errors import ScoringError
from mlplatform.files import replacing
from mlplatform.tracking.model_registry import (
    MODEL_PICKLE,
    ModelVersionInfo,
    download,
    resolve,
)

__all__ = [
    "DependencySet",
    "ENTRYPOINT",
    "SERVER_MODULE",
    "LOCK_FILE",
    "SERVER_REQUIREMENTS_FILE",
    "export_docker",
    "write_context",
    "render_dockerfile",
    "serving_config",
    "dependency_set",
    "serve_command",
    "ServeCommand",
    "context_venv",
]

log = logging.getLogger(__name__)

SERVER_MODULE = "mlp_scoring_server"
# image-side modules the server imports, copied beside it under these top-level names
SERVER_HELPERS = {"server_metrics.py": "mlp_server_metrics.py", "inference_spool.py": "mlp_inference_spool.py"}
GUNICORN_CONF = "gunicorn.conf.py"
LOCK_FILE = "requirements.lock.txt"
SERVER_REQUIREMENTS_FILE = "requirements.server.txt"
CONFIG_FILE = "serving.json"
MODEL_DIR = "model"
APP_DIR = "/app"
PORT = 8080
UID = 10001
# The image's CMD; `mlp serve` runs the same argv, with the context as working directory.
ENTRYPOINT = ("python", "-m", "gunicorn", "--config", GUNICORN_CONF, f"{SERVER_MODULE}:create_app()")
_SUPPORTED_TYPES = ("boolean", "integer", "long", "float", "double", "string", "binary", "datetime")
_FORBIDDEN = ("mlflow", "mlflow-skinny", "flask", "pyspark", "mlplatform")


@dataclass(frozen=True)
class DependencySet:
    """What the image installs: the model's environment, exactly as locked.

    Attributes:
        env_id: ``env:<name>@<hash12>`` of the environment.
        python_version: the environment's exact Python.
        base_image: the image the dependency layer sits on (``python:<version>-slim``).
        layer: Dockerfile lines from :func:`mlplatform.envs.dockerfile_dependency_layer`;
            they install the lock into a venv that comes first on ``PATH``.
        lock: the same pins as ``name==version`` lines (pip packages only for conda envs).
        builder: ``venv`` or ``conda``.
    """

    env_id: str
    python_version: str
    base_image: str
    layer: str
    lock: tuple[str, ...]
    builder: str = "venv"


def _canonical(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def _lock_names(lock: tuple[str, ...]) -> set[str]:
    from packaging.requirements import Requirement

    return {_canonical(Requirement(line).name) for line in lock}


def dependency_set(info: ModelVersionInfo, settings: Settings) -> DependencySet:
    """The dependency set of a model version, from the environment its ``mlp.env_id`` tag names."""

    if not info.env_id:
        raise ScoringError(
            f"{info.id} has no environment id (tag mlp.env_id)",
            "register models through 'mlp train', or set the tag to the env id the model was trained in",
        )
    artifact = envs.resolve(info.env_id, settings)
    return DependencySet(
        env_id=artifact.id,
        python_version=artifact.python_version,
        base_image=envs.docker_base_image(artifact),
        layer=envs.dockerfile_dependency_layer(artifact),
        lock=tuple(f"{name}=={version}" for name, version in sorted(artifact.packages.items())),
        builder=artifact.builder,
    )


def server_requirements(lock: tuple[str, ...]) -> tuple[str, ...]:
    """gunicorn pinned to the platform's version, with its unconditional dependencies; none the lock has."""
    from importlib.metadata import requires, version

    from packaging.requirements import Requirement

    have = _lock_names(lock)
    wanted = ["gunicorn"]
    out: list[str] = []
    while wanted:
        name = wanted.pop()
        if _canonical(name) in have:
            continue
        have.add(_canonical(name))
        out.append(f"{name}=={version(name)}")
        for dep in requires(name) or []:
            req = Requirement(dep)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                wanted.append(req.name)
    return tuple(out)


def serving_config(model_dir: Path, info: ModelVersionInfo, deps: DependencySet) -> dict[str, Any]:
    """The ``serving.json`` of a model directory; refuses what the server cannot load or check."""
    import yaml

    mlmodel_path = model_dir / "MLmodel"
    if not mlmodel_path.is_file():
        raise ScoringError(
            f"{info.id}: {model_dir} has no MLmodel file",
            "register the model's MLflow directory under the run artifact 'model/'",
        )
    mlmodel = yaml.safe_load(mlmodel_path.read_text()) or {}
    flavors = mlmodel.get("flavors") or {}
    sklearn_flavor = flavors.get("sklearn") or {}
    pickled = sklearn_flavor.get("pickled_model", MODEL_PICKLE)
    fmt = sklearn_flavor.get("serialization_format", "cloudpickle")
    if fmt not in ("cloudpickle", "pickle"):
        raise ScoringError(
            f"{info.id} is serialized as {fmt}; the scoring server loads cloudpickle",
            "log the model with serialization_format='cloudpickle'",
        )
    if not (model_dir / pickled).is_file():
        raise ScoringError(
            f"{info.id}: {model_dir / pickled} is missing", "re-register the model with its pickled estimator"
        )
    signature = mlmodel.get("signature") or {}
    if not signature.get("inputs"):
        raise ScoringError(
            f"{info.id} has no input signature, so requests cannot be checked",
            "log the model with a pandas input example",
        )
    inputs = json.loads(signature["inputs"])
    unsupported = [
        f"{c.get('name')} ({c.get('type')})" for c in inputs if c.get("type") not in _SUPPORTED_TYPES or "name" not in c
    ]
    if unsupported:
        raise ScoringError(
            f"{info.id} has a signature the server cannot check: {', '.join(unsupported)}",
            f"log the model with a column signature of {', '.join(_SUPPORTED_TYPES)} columns (a pandas input example)",
        )
    return {
        "model_name": info.name,
        "model_version": info.version,
        "env_id": deps.env_id,
        "python_version": deps.python_version,
        "env_builder": deps.builder,
        "run_id": info.run_id,
        "model_dir": MODEL_DIR,
        "model_file": pickled,
        "predict_fn": (flavors.get("python_function") or {}).get("predict_fn", "predict"),
        "inputs": [{"name": c["name"], "type": c["type"], "required": c.get("required", True)} for c in inputs],
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def render_dockerfile(config: dict[str, Any], deps: DependencySet, server_reqs: tuple[str, ...]) -> str:
    """The Dockerfile text of a context."""
    cmd = json.dumps(list(ENTRYPOINT))
    probe = (
        "import os, urllib.request; "
        "urllib.request.urlopen('http://127.0.0.1:%s/ping' % os.environ.get('MLP_PORT', '8080'), timeout=3)"
    )
    healthcheck = json.dumps(["python", "-c", probe])
    files = json.dumps([CONFIG_FILE, f"{SERVER_MODULE}.py", *SERVER_HELPERS.values(), GUNICORN_CONF, f"{APP_DIR}/"])
    return f"""\
# Online scoring image for model:{config["model_name"]}@{config["model_version"]}
# environment {deps.env_id}; written by `mlp export docker` (mlplatform).
# Build: docker build -t {config["model_name"]}:{config["model_version"]} .
# Run:   docker run -p 8080:8080 {config["model_name"]}:{config["model_version"]}
FROM {deps.base_image}
USER root

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1

{deps.layer.rstrip()}

# The WSGI server: {", ".join(server_reqs) or "already in the lock"}.
COPY {SERVER_REQUIREMENTS_FILE} {APP_DIR}/{SERVER_REQUIREMENTS_FILE}
RUN python -m pip install --no-deps -r {APP_DIR}/{SERVER_REQUIREMENTS_FILE}

RUN groupadd --system --gid {UID} mlp \\
 && useradd --system --uid {UID} --gid mlp --no-create-home --home-dir {APP_DIR} --shell /usr/sbin/nologin mlp

# The model and the server.
WORKDIR {APP_DIR}
COPY {MODEL_DIR}/ {APP_DIR}/{MODEL_DIR}/
COPY {files}

USER mlp
ENV MLP_HOST=0.0.0.0 MLP_PORT={PORT}
EXPOSE {PORT}
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD {healthcheck}
CMD {cmd}
"""


def write_context(
    model_dir: str | os.PathLike[str], info: ModelVersionInfo, deps: DependencySet, out: str | os.PathLike[str]
) -> Path:
    """Write the build context for a downloaded model directory into ``out`` (created or emptied).

    The context is assembled in a temporary sibling folder and renamed into place,
    so a failure leaves no half-written context behind.
    """
    model_dir, out = Path(model_dir), Path(out)
    forbidden = sorted(_lock_names(deps.lock) & set(_FORBIDDEN))
    if forbidden:
        log.warning(
            "the lock of %s contains %s; the image will install them although the server does not use them",
            deps.env_id,
            ", ".join(forbidden),
        )
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "Dockerfile").is_file())):
        raise ScoringError(f"{out} exists and is not an export context", "choose an empty or new --out directory")
    config = serving_config(model_dir, info, deps)
    server_reqs = server_requirements(deps.lock)
    with replacing(out, folder=True) as staging:
        shutil.copytree(model_dir, staging / MODEL_DIR)
        here = Path(__file__).parent
        shutil.copyfile(here / "server.py", staging / f"{SERVER_MODULE}.py")
        for source, name in SERVER_HELPERS.items():
            shutil.copyfile(here / source, staging / name)
        shutil.copyfile(here / "gunicorn_conf.py", staging / GUNICORN_CONF)
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        (staging / LOCK_FILE).write_text("".join(f"{line}\n" for line in deps.lock))
        (staging / SERVER_REQUIREMENTS_FILE).write_text("".join(f"{line}\n" for line in server_reqs))
        (staging / "Dockerfile").write_text(render_dockerfile(config, deps, server_reqs))
        (staging / ".dockerignore").write_text("**/__pycache__\n")
        if out.exists():
            shutil.rmtree(out)
    log.debug("wrote the build context of %s (env %s) to %s", info.id, deps.env_id, out)
    return out


def export_docker(ref: str, out: str | os.PathLike[str], settings: Settings) -> Path:
    """Resolve ``ref`` (``NAME@ALIAS|VERSION``) and write its Docker build context to ``out``."""

    return _export(resolve(ref, settings), out, settings)


def _export(info: ModelVersionInfo, out: str | os.PathLike[str], settings: Settings) -> Path:

    deps = dependency_set(info, settings)
    with tempfile.TemporaryDirectory(prefix="mlp-export-") as tmp:
        model_dir = download(info, tmp, settings)
        return write_context(model_dir, info, deps, out)


@dataclass(frozen=True)
class ServeCommand:
    """The image's entrypoint, set up to run from a local build context."""

    model_id: str
    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str]
    options: dict[str, str]

    def render(self) -> str:
        """A shell line a person can paste."""
        variables = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.options.items()))
        return f"cd {shlex.quote(str(self.cwd))} && {variables} {shlex.join(self.argv)}".replace("  ", " ")


def serve_command(
    ref: str,
    settings: Settings,
    options: dict[str, str],
    python: str | None = None,
    context: str | os.PathLike[str] | None = None,
) -> ServeCommand:
    """Export ``ref`` to a local context and return the command that serves it as the image would.

    Args:
        options: ``MLP_*`` server variables (``MLP_PORT``, ``MLP_WORKERS``...; see gunicorn.conf.py).
        python: interpreter to run the server with. Default: a venv of exactly the
            image's dependency set (env lock + gunicorn), built once per set under
            ``<home>/serving/venvs`` — the model is unpickled with its own library versions.
        context: where to write the context (default ``<home>/serving/<model>/<version>``).
    """

    info = resolve(ref, settings)
    target = Path(context) if context else Path(settings.home) / "serving" / info.name / str(info.version)
    written = _export(info, target, settings).resolve()
    if python is None:
        log.info("preparing the image's dependency set for %s (built once, then reused)", info.id)
        python = str(context_venv(written, Path(settings.home) / "serving" / "venvs") / "bin" / "python")
    argv = (python, *ENTRYPOINT[1:])
    return ServeCommand(info.id, argv, written, {**os.environ, **options}, dict(options))


def context_venv(
    context: str | os.PathLike[str], cache_root: str | os.PathLike[str], python: str | None = None
) -> Path:
    """A venv holding exactly the context's dependency set (lock + server), built once per set.

    Its base interpreter is ``python``, else one of the environment's Python version,
    found as environment builds find it. The venv is keyed by the sha256 of both
    requirement files and the Python version, and reused once a marker file says its
    build completed.
    """
    context = Path(context)
    config = json.loads((context / CONFIG_FILE).read_text())
    if config.get("env_builder") == "conda":
        raise ScoringError(
            f"the context {context} comes from the conda environment {config.get('env_id')}, which pip cannot rebuild",
            f"unpack it with 'mlp env create --local {config.get('env_id')}', "
            "add gunicorn, and pass its python with --python",
        )
    wanted = str(config.get("python_version") or "")
    if python is None:
        python = find_python(wanted).executable if wanted else sys.executable
    texts = [(context / name).read_text() for name in (LOCK_FILE, SERVER_REQUIREMENTS_FILE)]
    version = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if wanted and not f"{wanted}.".startswith(f"{version}."):
        raise ScoringError(
            f"the context {context} needs Python {wanted}, {python} is Python {version}",
            "pass an interpreter of that version",
        )
    key = hashlib.sha256("\0".join([version, *texts]).encode()).hexdigest()[:16]
    target = Path(cache_root) / key
    done_marker = target / ".mlp-complete"
    if done_marker.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([python, "-m", "venv", str(target)], check=True, capture_output=True, text=True)
        pip = [
            str(target / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
        ]
        for name in (LOCK_FILE, SERVER_REQUIREMENTS_FILE):
            result = subprocess.run([*pip, "-r", str(context / name)], capture_output=True, text=True)
            if result.returncode != 0:
                raise ScoringError(
                    f"pip could not install {context / name}: {result.stderr.strip()[-2000:]}",
                    "check that every locked version is served by the package index",
                )
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    done_marker.write_text("".join(texts))
    return target
