"""The conda builder: resolve and create a conda prefix, then pack it with conda-pack.

Unlike venv-pack, a conda-pack archive carries the interpreter itself, so it runs on
nodes that lack the base Python. It needs a conda executable (``conda``, ``mamba``
or ``micromamba`` on ``PATH``, or ``CONDA_EXE``) and a reachable channel.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from packaging.utils import canonicalize_name

from mlplatform.envs.piptool import install_requirements, resolve_pip
from mlplatform.errors import EnvError

if TYPE_CHECKING:
    from mlplatform.envs.spec import EnvSpec

__all__ = ["find_conda", "conda_resolve", "create_conda_prefix", "pack_conda"]

log = logging.getLogger(__name__)

_EXECUTABLES = ("micromamba", "mamba", "conda")


def find_conda() -> str:
    """Path of a conda-compatible executable.

    Raises:
        EnvError: when none is installed.
    """
    explicit = os.environ.get("CONDA_EXE")
    if explicit and Path(explicit).is_file():
        return explicit
    for name in _EXECUTABLES:
        found = shutil.which(name)
        if found:
            return found
    raise EnvError(
        "builder: conda needs a conda executable, but none of conda, mamba, micromamba is on PATH (nor CONDA_EXE)",
        "install one (e.g. Miniforge) or use builder: venv",
    )


def _conda(args: list[str], what: str) -> str:
    command = [find_conda(), *args]
    log.debug("running %s", " ".join(command))
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        tail = (out.stderr.strip() or out.stdout.strip()).splitlines()[-3:]
        raise EnvError(f"{what}: conda failed: {' '.join(tail)}", "check the channels and conda_packages of the spec")
    return out.stdout


def _channel_args(channels: tuple[str, ...]) -> list[str]:
    out = ["--override-channels"]
    for channel in channels:
        out += ["-c", channel]
    return out


def _channel_name(raw: str) -> str:
    return raw.rstrip("/").split("/")[-1] if "/" in raw else raw


def conda_resolve(spec: "EnvSpec", pip_requirements: list[str]) -> tuple[str, list[str], list[tuple[str, str]]]:
    """Resolve conda packages (dry run), then pip packages inside a scratch prefix.

    Returns:
        (python version, conda pins ``channel::name==version=build``, pip pins).
    """
    from packaging.requirements import Requirement

    specs = [f"python={spec.python}", *spec.conda_packages]
    plan = json.loads(
        _conda(
            ["create", "--dry-run", "--json", "--yes", "-p", "/tmp/mlp-dry-run", *_channel_args(spec.channels), *specs],
            f"resolving environment '{spec.name}'",
        )
    )
    links = plan.get("actions", {}).get("LINK", [])
    pins = sorted(
        f"{_channel_name(link['channel'])}::{link['name']}=={link['version']}={link['build_string']}" for link in links
    )
    python = next((link["version"] for link in links if link["name"] == "python"), None)
    if python is None:
        raise EnvError(
            f"environment '{spec.name}': conda resolved no python package", "add python to the channels' packages"
        )
    with tempfile.TemporaryDirectory(prefix="mlp-conda-lock-") as tmp:
        prefix = Path(tmp) / "env"
        create_conda_prefix(spec.channels, pins, prefix, spec.name)
        present = {canonicalize_name(link["name"]) for link in links}
        wanted = [r for r in pip_requirements if canonicalize_name(Requirement(r).name) not in present]
        pip_pins = (
            resolve_pip(str(prefix / "bin" / "python"), wanted, spec.name, ignore_installed=False) if wanted else []
        )
    return python, pins, pip_pins


def create_conda_prefix(channels: tuple[str, ...], conda_pins: Sequence[str], prefix: Path, name: str) -> None:
    """``conda create -p prefix`` with exactly the locked conda packages."""
    _conda(
        ["create", "--yes", "--quiet", "-p", str(prefix), *_channel_args(channels), *conda_pins],
        f"creating environment '{name}'",
    )


def build_conda(
    name: str, channels: tuple[str, ...], conda_pins: Sequence[str], pip_requirements: Sequence[str], prefix: Path
) -> str:
    """Create the locked conda prefix and pip-install the locked pip packages; returns its python."""
    create_conda_prefix(channels, conda_pins, prefix, name)
    python = str(prefix / "bin" / "python")
    if pip_requirements:
        install_requirements(python, pip_requirements, name, prefix)
    return python


def pack_conda(prefix: Path, output: Path) -> None:
    """Pack a conda prefix with conda-pack (relocatable, interpreter included)."""
    import conda_pack

    try:
        conda_pack.pack(
            prefix=str(prefix),
            output=str(output),
            format="tar.gz",
            compress_level=4,
            n_threads=os.cpu_count() or 1,
            force=True,
        )
    except Exception as exc:  # conda-pack raises CondaPackException, and KeyError on malformed records
        raise EnvError(
            f"conda-pack cannot pack {prefix}: {exc!r}", "build it with builder: conda from a clean prefix"
        ) from exc
