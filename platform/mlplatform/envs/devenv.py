"""Development copies of an environment and Jupyter kernels for them.

A development copy is the published archive unpacked locally — the same bytes
the executors run — so notebook code runs with the packages it will be trained
and scored with.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
from pathlib import Path

from mlplatform.config import Settings, load_settings
from mlplatform.envs.artifacts import EnvArtifact, resolve, unpack
from mlplatform.envs.piptool import pip

__all__ = ["create_local", "install_kernel", "kernels_dir"]

log = logging.getLogger(__name__)


def create_local(
    ref: "EnvArtifact | str", dest: str | os.PathLike[str] | None = None, settings: Settings | None = None
) -> Path:
    """Unpack the environment into ``dest`` (default ``<home>/envs/local/<name>-<hash12>``); returns the folder.

    Activate it with ``source <folder>/bin/activate``: a venv brings its own; an env that
    carries its interpreter (``builder: portable``) gets one that puts its ``bin/`` first on
    ``PATH`` (and ``deactivate`` to undo it).
    """
    settings = settings or load_settings()
    folder = unpack(resolve(ref, settings), settings, dest)
    activate = folder / "bin" / "activate"
    if not activate.exists():
        activate.write_text(_ACTIVATE.replace("@BIN@", shlex.quote(str(folder / "bin"))))
    return folder


_ACTIVATE = """\
# source this file (bash, zsh, sh): this environment's bin/ first on PATH; 'deactivate' undoes it
deactivate () {
    PATH="$_MLP_OLD_PATH"; export PATH; unset _MLP_OLD_PATH; unset -f deactivate; hash -r 2>/dev/null || true
}
_MLP_OLD_PATH="$PATH"
PATH=@BIN@:"$PATH"
export PATH
hash -r 2>/dev/null || true
"""


def kernels_dir() -> Path:
    """Where Jupyter looks for user kernel specs (``JUPYTER_DATA_DIR`` or ``~/.local/share/jupyter``)."""
    data = os.environ.get("JUPYTER_DATA_DIR") or str(Path.home() / ".local" / "share" / "jupyter")
    return Path(data) / "kernels"


def install_kernel(
    ref: "EnvArtifact | str", settings: Settings | None = None, dest: str | os.PathLike[str] | None = None
) -> tuple[Path, list[str]]:
    """Register a Jupyter kernel that runs in a development copy of the environment.

    When the environment lacks ``ipykernel``, it is installed into the
    development copy only (never into the published archive).

    Returns:
        (the kernel spec folder, packages added to the development copy).
    """
    settings = settings or load_settings()
    artifact = resolve(ref, settings)
    folder = create_local(artifact, dest, settings)
    python = str(folder / "bin" / "python")
    added: list[str] = []
    probe = subprocess.run([python, "-c", "import ipykernel"], capture_output=True)
    if probe.returncode != 0:
        pip(python, ["install", "--quiet", "ipykernel"], f"adding ipykernel to the development copy of {artifact.id}")
        added.append("ipykernel")
    spec_dir = kernels_dir() / f"mlp-{artifact.name}-{artifact.hash}"
    spec_dir.mkdir(parents=True, exist_ok=True)
    kernel = {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"{artifact.id} (Python {artifact.python_version})",
        "language": "python",
        "env": {"MLP_ENV_ID": artifact.id},
        "metadata": {"mlp_env": artifact.id, "debugger": True},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(kernel, indent=2) + "\n")
    log.info("registered Jupyter kernel %s for %s", spec_dir.name, artifact.id)
    return spec_dir, added
