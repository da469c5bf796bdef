"""Docker build context for online scoring: model + server + the model's environment.

``export_docker("churn@champion", "build/churn")`` writes::

    build/churn/
      Dockerfile                base image, the env, gunicorn, non-root, HEALTHCHECK, labels
      wheels/                   venv envs: the wheels of exactly lock + server, hashed (requirements.txt)
      env.tar.gz                envs that carry their interpreter: the very archive the executors run
      requirements.lock.txt     the environment lock
      requirements.server.txt   gunicorn, pinned, and nothing else
      model/                    the registered MLflow model directory (MLmodel, model.pkl, ...)
      serving.json              model name, version, env id, signature, limits
      mlp_scoring_server.py     the WSGI app (mlplatform/scoring/server.py)
      mlp_server_metrics.py     its /metrics (server_metrics.py), mlp_inference_spool.py its inference log
      gunicorn.conf.py          server settings, all from MLP_* variables

The context builds with ``docker build --network none``: everything the image installs is
in it (no registry, no package index). Its base is ``mlp-base:bookworm`` by default (a
debootstrap'd Debian root, :func:`mlplatform.scoring.images.build_base_image`); the
archive's sha256 is checked against its manifest on export and again in the build.
``mlp serve`` runs :data:`ENTRYPOINT` from the same context without Docker.
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

from mlplatform import envs, storage
from mlplatform.config import Settings
from mlplatform.envs.docker import ENV_DIR
from mlplatform.envs.interpreters import find_python
from mlplatform.errors import ScoringError
from mlplatform.files import replacing
from mlplatform.scoring.images import BASE_IMAGE
from mlplatform.scoring.wheelhouse import REQUIREMENTS, SUMS, wheelhouse
from mlplatform.tracking.model_registry import (
    MODEL_PICKLE,
    ModelVersionInfo,
    download,
    resolve,
    verify_dir,
)

__all__ = [
    "DependencySet",
    "ENTRYPOINT",
    "SERVER_MODULE",
    "LOCK_FILE",
    "SERVER_REQUIREMENTS_FILE",
    "export_docker",
    "export_version",
    "write_context",
    "render_dockerfile",
    "serving_config",
    "dependency_set",
    "serve_command",
    "ServeCommand",
    "context_venv",
    "default_context",
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
WHEELS_DIR = "wheels"
ARCHIVE_FILE = "env.tar.gz"
SERVER_LIBS = "/opt/mlp/server"
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
        base_image: the image the environment sits on (default :data:`~mlplatform.scoring.images.BASE_IMAGE`).
        lock: the same pins as ``name==version`` lines (pip packages only for conda envs).
        builder: the env builder (``venv``, ``conda``, ``portable``...).
        bundled: the archive carries its interpreter: the image unpacks it instead of
            installing the lock into a venv of the base's Python.
        archive_uri: where the environment's archive is.
        archive_sha256: its sha256, as its manifest records (checked on export).
    """

    env_id: str
    python_version: str
    base_image: str
    lock: tuple[str, ...]
    builder: str = "venv"
    bundled: bool = False
    archive_uri: str = ""
    archive_sha256: str = ""


def _canonical(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def _lock_names(lock: tuple[str, ...]) -> set[str]:
    from packaging.requirements import Requirement

    return {_canonical(Requirement(line).name) for line in lock}


def dependency_set(info: ModelVersionInfo, settings: Settings, base_image: str = BASE_IMAGE) -> DependencySet:
    """The dependency set of a model version, from the environment its ``mlp.env_id`` tag names.

    Raises:
        ScoringError: no env id on the version.
        EnvError: the environment is not published, or its archive differs from its manifest.
    """

    if not info.env_id:
        raise ScoringError(
            f"{info.id} has no environment id (tag mlp.env_id)",
            "register models through 'mlp train', or set the tag to the env id the model was trained in",
        )
    artifact = envs.resolve(info.env_id, settings)
    envs.verify_archive(artifact, settings)
    return DependencySet(
        env_id=artifact.id,
        python_version=artifact.python_version,
        base_image=base_image,
        lock=tuple(f"{name}=={version}" for name, version in sorted(artifact.packages.items())),
        builder=artifact.builder,
        bundled=artifact.carries_interpreter,
        archive_uri=artifact.uri,
        archive_sha256=artifact.sha256,
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
        "env_sha256": deps.archive_sha256,
        "base_image": deps.base_image,
        "run_id": info.run_id,
        "model_dir": MODEL_DIR,
        "model_file": pickled,
        "predict_fn": (flavors.get("python_function") or {}).get("predict_fn", "predict"),
        "inputs": [{"name": c["name"], "type": c["type"], "required": c.get("required", True)} for c in inputs],
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def render_dockerfile(config: dict[str, Any], deps: DependencySet, server_reqs: tuple[str, ...]) -> str:
    """The Dockerfile text of a context: a build stage makes ``/opt/mlp``, the image copies it onto the base.

    Every file the build installs is in the context, so ``docker build --network none`` works.
    """
    cmd = json.dumps(list(ENTRYPOINT))
    probe = (
        "import os, urllib.request; "
        "urllib.request.urlopen('http://127.0.0.1:%s/ping' % os.environ.get('MLP_PORT', '8080'), timeout=3)"
    )
    healthcheck = json.dumps([f"{ENV_DIR}/bin/python", "-c", probe])
    labels = {
        "org.mlplatform.model.id": f"model:{config['model_name']}@{config['model_version']}",
        "org.mlplatform.env.id": deps.env_id,
        "org.mlplatform.env.sha256": deps.archive_sha256,
    }
    label_lines = " \\\n      ".join(f"{k}={json.dumps(v)}" for k, v in labels.items())
    tag = f"mlp-{config['model_name'].lower()}:{config['model_version']}"
    files = json.dumps([CONFIG_FILE, f"{SERVER_MODULE}.py", *SERVER_HELPERS.values(), GUNICORN_CONF, f"{APP_DIR}/"])
    return f"""\
# Online scoring image for model:{config["model_name"]}@{config["model_version"]}
# environment {deps.env_id}; written by `mlp export docker` (mlplatform).
# Build (no network needed): docker build --network none -t {tag} .
# Run:   docker run --read-only --tmpfs /tmp -p 8080:8080 {tag}
FROM {deps.base_image} AS env
USER root
{_env_stage(deps, server_reqs)}
FROM {deps.base_image}
USER root
ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    MLP_ENV_ID="{deps.env_id}" \\
    VIRTUAL_ENV={ENV_DIR} \\
    {f"PYTHONPATH={SERVER_LIBS} " if deps.bundled else ""}PATH="{ENV_DIR}/bin:$PATH"
COPY --from=env /opt/mlp/ /opt/mlp/
RUN groupadd --system --gid {UID} mlp \\
 && useradd --system --uid {UID} --gid mlp --no-create-home --home-dir {APP_DIR} --shell /usr/sbin/nologin mlp

# The model and the server.
WORKDIR {APP_DIR}
COPY {MODEL_DIR}/ {APP_DIR}/{MODEL_DIR}/
COPY {files}

USER {UID}:{UID}
ENV MLP_HOST=0.0.0.0 MLP_PORT={PORT}
EXPOSE {PORT}
LABEL {label_lines}
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD {healthcheck}
CMD {cmd}
"""


def _env_stage(deps: DependencySet, server_reqs: tuple[str, ...]) -> str:
    """The build stage's steps: ``/opt/mlp/env`` (and the server's libraries) from the context's files only."""
    py = f"{ENV_DIR}/bin/python"
    if deps.bundled:
        return f"""\
# {deps.env_id} carries its interpreter: the image runs the very archive the executors run.
COPY {ARCHIVE_FILE} /tmp/{ARCHIVE_FILE}
COPY {WHEELS_DIR}/ /tmp/{WHEELS_DIR}/
RUN echo "{deps.archive_sha256}  /tmp/{ARCHIVE_FILE}" | sha256sum --check --quiet - \\
 && mkdir -p {ENV_DIR} {SERVER_LIBS} && tar -xzf /tmp/{ARCHIVE_FILE} -C {ENV_DIR} \\
 && cd /tmp/{WHEELS_DIR} && sha256sum --check --quiet {SUMS} \\
 && for wheel in /tmp/{WHEELS_DIR}/*.whl; do {py} -m zipfile -e "$wheel" {SERVER_LIBS}; done \\
 && if [ -x {ENV_DIR}/bin/conda-unpack ]; then {ENV_DIR}/bin/conda-unpack; fi \\
 && PYTHONPATH={SERVER_LIBS} {py} -c "import gunicorn"
"""
    minor = ".".join(deps.python_version.split(".")[:2])
    check = (
        "import sys; v = '%d.%d' % sys.version_info[:2]; "
        f"sys.exit(None if v == '{minor}' else 'the base image has Python ' + v + ', {deps.env_id} needs {minor}: "
        "pass --base-image with that Python')"
    )
    keep = _lock_names(deps.lock)
    tools = " ".join(name for name in ("pip", "setuptools") if name not in keep)
    strip = f" \\\n && {py} -m pip uninstall --yes --quiet {tools}" if tools else ""
    return f"""\
# {deps.env_id}: a venv of the base's Python with exactly the lock and the server
# ({", ".join(server_reqs) or "already in the lock"}), from the context's wheels, hashes checked.
COPY {WHEELS_DIR}/ /tmp/{WHEELS_DIR}/
RUN python3 -c {shlex.quote(check)} \\
 && python3 -m venv {ENV_DIR} \\
 && {py} -m pip install --no-index --require-hashes --no-deps --no-cache-dir --disable-pip-version-check \\
        --find-links /tmp/{WHEELS_DIR} -r /tmp/{WHEELS_DIR}/{REQUIREMENTS} \\
 && {py} -m pip check{strip}
"""


def write_context(
    model_dir: str | os.PathLike[str],
    info: ModelVersionInfo,
    deps: DependencySet,
    out: str | os.PathLike[str],
    settings: Settings | None = None,
) -> Path:
    """Write the build context for a downloaded model directory into ``out`` (created or emptied).

    The wheels it installs are downloaded here (the lock's and the server's for a venv env,
    the server's alone next to the archive of an env that carries its interpreter). The
    context is assembled in a temporary sibling folder and renamed into place, so a failure
    leaves no half-written context behind.
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
        wanted = server_reqs if deps.bundled else deps.lock + server_reqs
        wheelhouse(wanted, deps.python_version, staging / WHEELS_DIR, deps.env_id)
        if deps.bundled:
            storage.get(deps.archive_uri, staging / ARCHIVE_FILE, settings)
        (staging / "Dockerfile").write_text(render_dockerfile(config, deps, server_reqs))
        (staging / ".dockerignore").write_text("**/__pycache__\n")
        if out.exists():
            shutil.rmtree(out)
    log.debug("wrote the build context of %s (env %s) to %s", info.id, deps.env_id, out)
    return out


def export_docker(ref: str, out: str | os.PathLike[str], settings: Settings, base_image: str = BASE_IMAGE) -> Path:
    """Resolve ``ref`` (``NAME@ALIAS|VERSION``) and write its Docker build context to ``out``."""

    return export_version(resolve(ref, settings), out, settings, base_image)


def export_version(
    info: ModelVersionInfo, out: str | os.PathLike[str], settings: Settings, base_image: str = BASE_IMAGE
) -> Path:
    """Write the Docker build context of a resolved model version to ``out``."""
    with tempfile.TemporaryDirectory(prefix="mlp-export-") as tmp:
        model_dir = download(info, tmp, settings)
        verify_dir(info, model_dir, settings)  # the server loads what is verified here (it cannot check signatures)
        deps = dependency_set(info, settings, base_image)
        return write_context(model_dir, info, deps, out, settings)


def default_context(info: ModelVersionInfo, settings: Settings) -> Path:
    """Where ``mlp serve`` writes a version's context: ``<home>/serving/<model>/<version>``."""
    return Path(settings.home) / "serving" / info.name / str(info.version)


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
    written = export_version(info, context or default_context(info, settings), settings).resolve()
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
