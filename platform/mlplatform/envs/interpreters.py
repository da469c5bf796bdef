"""Find a base Python interpreter (not a virtualenv) for a version like ``3.11`` or ``3.11.7``.

Looked for, in order: the interpreter the platform itself runs on (its base, when the
version matches), ``python3.X`` on ``PATH`` (pyenv shims resolved to the real
binary), ``$PYENV_ROOT/versions/3.X*``, ``/usr/local/bin``, ``/usr/bin``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mlplatform.errors import EnvError

__all__ = ["Interpreter", "find_python", "describe"]

_QUERY = (
    "import json, os, platform, sys; "
    "print(json.dumps({'executable': sys.executable, 'version': platform.python_version(), "
    "'prefix': sys.prefix, 'base_prefix': sys.base_prefix, 'machine': platform.machine()}))"
)


@dataclass(frozen=True)
class Interpreter:
    """A base (non-venv) Python: its real executable path, version and prefix."""

    executable: str
    version: str
    prefix: str
    machine: str

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


def describe(executable: str | os.PathLike[str]) -> Interpreter | None:
    """Ask an interpreter who it is; None when it does not run or is a virtualenv."""
    try:
        out = subprocess.run([str(executable), "-I", "-c", _QUERY], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    info = json.loads(out.stdout.strip().splitlines()[-1])
    if info["prefix"] != info["base_prefix"]:
        return None
    return Interpreter(str(Path(info["executable"]).resolve()), info["version"], info["prefix"], info["machine"])


def _candidates(minor: str) -> list[Path]:
    exe = f"python{minor}"
    found: list[Path] = [Path(sys.executable)]
    base = Path(sys.base_prefix) / "bin" / exe
    found.append(base)
    on_path = shutil.which(exe)
    if on_path:
        found.append(Path(on_path))
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found += sorted((pyenv_root / "versions").glob(f"{minor}*/bin/{exe}"), reverse=True)
    found += [Path("/usr/local/bin") / exe, Path("/usr/bin") / exe]
    return found


def find_python(version: str) -> Interpreter:
    """The base interpreter for ``version`` (``3.11`` matches any 3.11.x, ``3.11.7`` only itself).

    Raises:
        EnvError: when no such interpreter exists on this machine.
    """
    minor = ".".join(version.split(".")[:2])
    seen: set[str] = set()
    tried: list[str] = []
    for candidate in _candidates(minor):
        if not candidate.exists():
            continue
        key = str(candidate)
        if key in seen:
            continue
        seen.add(key)
        info = describe(candidate)
        if info is None:
            continue
        tried.append(f"{info.executable} ({info.version})")
        if info.version == version or (version == minor and info.minor == minor):
            return info
    looked = "; found " + ", ".join(tried) if tried else ""
    raise EnvError(
        f"Python {version} is not available on this machine "
        f"(looked for python{minor} on PATH, in pyenv and /usr{looked})",
        f"install it (e.g. 'pyenv install {version}' or 'apt-get install python{minor}'), "
        "or use builder: conda, which ships its own interpreter",
    )
