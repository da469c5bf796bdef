"""Resolve a spec to exact versions: the lock file next to the spec (``envs/<name>.lock.txt``).

The lock is a pip requirements file of ``name==version`` lines with a comment
header recording the spec it was made from (its sha256), the exact Python
version, the builder and the Arrow packages that were added. A lock whose spec
digest still matches is reused as is; ``refresh=True`` resolves again.

Resolution runs ``pip install --dry-run --ignore-installed --report`` under the
target interpreter (``pip --python``), so markers and wheel tags are those of
the environment, and nothing is installed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlplatform import files
from mlplatform.envs.conda import conda_resolve
from mlplatform.envs.interpreters import find_python
from mlplatform.envs.piptool import resolve_pip
from mlplatform.envs.spec import (
    EnvSpec,
    arrow_requirements,
    load_spec,
    missing_arrow_packages,
    spec_path,
)
from mlplatform.errors import EnvError

__all__ = ["EnvLock", "lock", "read_lock", "lock_path"]

log = logging.getLogger(__name__)

_HEADER = "# mlp env lock"


@dataclass(frozen=True)
class EnvLock:
    """Exact versions for one spec.

    Attributes:
        name: environment name.
        spec_digest: sha256 of the normalized spec the lock was made from.
        python_version: exact interpreter version, e.g. ``3.11.7``.
        builder: ``venv`` or ``conda``.
        pins: pip packages as ``(canonical name, version)``, sorted.
        conda_pins: conda packages as ``channel::name==version=build`` (conda builder), sorted.
        added: requirements added because the spec lacked them (Arrow packages).
        path: where the lock file is.
    """

    name: str
    spec_digest: str
    python_version: str
    builder: str
    pins: tuple[tuple[str, str], ...]
    conda_pins: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    path: Path | None = field(default=None, compare=False)

    @property
    def packages(self) -> dict[str, str]:
        """pip package name -> exact version."""
        return dict(self.pins)

    def requirements(self) -> list[str]:
        """``name==version`` lines for pip."""
        return [f"{name}=={version}" for name, version in self.pins]

    def content(self) -> dict[str, object]:
        """What identifies the lock (no comments, no path)."""
        return {
            "python": self.python_version,
            "builder": self.builder,
            "pip": self.requirements(),
            "conda": list(self.conda_pins),
        }

    def render(self) -> str:
        lines = [
            f"{_HEADER} for '{self.name}': generated, do not edit (mlp env lock {self.name} --refresh)",
            f"# spec-sha256: {self.spec_digest}",
            f"# python: {self.python_version}",
            f"# builder: {self.builder}",
        ]
        if self.added:
            lines.append(f"# added: {', '.join(self.added)}")
        lines += [f"# conda: {pin}" for pin in self.conda_pins]
        return "\n".join(lines + self.requirements()) + "\n"


def lock_path(spec_file: Path) -> Path:
    """``envs/<name>.lock.txt`` beside ``envs/<name>.yaml``."""
    return spec_file.with_name(f"{spec_file.stem}.lock.txt")


def read_lock(path: Path, name: str) -> EnvLock:
    """Parse a lock file written by :func:`lock`."""
    meta: dict[str, str] = {}
    conda: list[str] = []
    pins: list[tuple[str, str]] = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            key, sep, value = line[1:].strip().partition(": ")
            if key == "conda":
                conda.append(value)
            elif sep:
                meta[key] = value
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==":
            raise EnvError(
                f"lock file {path}:{number}: '{line}' is not an exact pin",
                f"regenerate it: mlp env lock {name} --refresh",
            )
        pins.append((canonicalize_name(req.name), specs[0].version))
    missing = [k for k in ("spec-sha256", "python", "builder") if k not in meta]
    if missing:
        raise EnvError(
            f"lock file {path} lacks its header ({', '.join(missing)})", f"regenerate it: mlp env lock {name} --refresh"
        )
    added = tuple(a.strip() for a in meta.get("added", "").split(",") if a.strip())
    return EnvLock(
        name,
        meta["spec-sha256"],
        meta["python"],
        meta["builder"],
        tuple(sorted(pins)),
        tuple(sorted(conda)),
        added,
        path,
    )


def _check_arrow(pins: dict[str, str], name: str) -> None:
    for req in arrow_requirements():
        version = pins.get(canonicalize_name(req.name))
        if version is not None and not req.specifier.contains(version, prereleases=True):
            raise EnvError(
                f"environment '{name}' resolves {req.name} {version}, "
                f"but PySpark needs {req} on executors for Arrow work",
                f"allow {req} in the spec's packages",
            )


def _resolve(spec: EnvSpec) -> EnvLock:
    added = [str(req) for req in missing_arrow_packages(spec)]
    requirements = list(spec.packages) + added
    if spec.builder == "conda":
        python_version, conda_pins, pins = conda_resolve(spec, requirements)
    else:
        interpreter = find_python(spec.python)
        python_version, conda_pins = interpreter.version, []
        pins = resolve_pip(interpreter.executable, requirements, spec.name)
    _check_arrow(dict(pins), spec.name)
    return EnvLock(
        spec.name, spec.digest(), python_version, spec.builder, tuple(pins), tuple(sorted(conda_pins)), tuple(added)
    )


def lock(name: str | Path, refresh: bool = False) -> EnvLock:
    """The lock of a spec: reused when it matches the spec, else resolved and written.

    Args:
        name: environment name (``envs/<name>.yaml``) or path to a spec file.
        refresh: resolve again even when the existing lock matches.

    Raises:
        EnvError: invalid spec, Python version not available, unresolvable package.
    """
    spec = load_spec(name)
    path = lock_path(spec_path(name))
    if path.is_file() and not refresh:
        current = read_lock(path, spec.name)
        if current.spec_digest == spec.digest():
            return current
        log.info("spec of '%s' changed since %s was written: resolving again", spec.name, path.name)
    resolved = _resolve(spec)
    files.write_atomic(path, resolved.render())
    if resolved.added:
        log.info("added to '%s' for Arrow-based work on executors: %s", spec.name, ", ".join(resolved.added))
    return replace(resolved, path=path)
