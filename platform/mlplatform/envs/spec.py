"""Environment specs: ``envs/<name>.yaml`` as a pydantic model.

Example ``envs/sklearn.yaml``::

    name: sklearn
    description: scikit-learn models scored with Arrow
    python: "3.11"
    builder: portable
    packages:
      - scikit-learn==1.7.2
      - pandas>=2.2,<3
      - pyarrow
      - numpy
      - cloudpickle

``builder`` is ``portable`` by default (the archive carries its CPython, so nodes need no
Python); ``venv`` packs a venv that links to the base interpreter's path (smaller, but that
Python must exist at that path on every node). ``builder: conda`` adds ``channels`` and
``conda_packages`` (conda match specs); ``packages`` are then installed with pip inside the
conda environment.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mlplatform.config import project_root
from mlplatform.errors import EnvError
from mlplatform.specfiles import StrictModel, problems, read_mapping

__all__ = [
    "EnvSpec",
    "load_spec",
    "spec_path",
    "spec_names",
    "arrow_requirements",
    "missing_arrow_packages",
    "NAME_PATTERN",
]

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
# What executors need for Arrow-based work when PySpark's metadata cannot be read.
_ARROW_FALLBACK = ("numpy>=1.21", "pandas>=2.2.0", "pyarrow>=18.0.0")


class EnvSpec(StrictModel):
    """One environment: Python version, packages and the builder that makes it."""

    name: str = Field(pattern=NAME_PATTERN, description="Environment name; the file is envs/<name>.yaml.")
    python: str = Field(pattern=r"^3\.\d{1,2}(\.\d{1,2})?$", description="Python version: '3.11' or an exact '3.11.7'.")
    builder: Literal["venv", "portable", "conda"] = Field(
        "portable",
        description="portable (the default: the archive carries its CPython), venv (+ venv-pack, links to the "
        "base interpreter's path) or conda (+ conda-pack).",
    )
    packages: tuple[str, ...] = Field((), description="pip requirement strings, e.g. 'scikit-learn==1.7.2'.")
    channels: tuple[str, ...] = Field((), description="conda channels (builder: conda only).")
    conda_packages: tuple[str, ...] = Field((), description="conda match specs (builder: conda only).")
    description: str | None = Field(None, description="Free text; does not change the environment id.")
    owner: str | None = Field(None, description="Who maintains it; does not change the environment id.")

    @field_validator("packages")
    @classmethod
    def _valid_requirements(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen: dict[str, str] = {}
        for raw in value:
            try:
                req = Requirement(raw)
            except InvalidRequirement as exc:
                raise ValueError(f"'{raw}' is not a pip requirement ({exc})") from exc
            if req.url:
                raise ValueError(f"'{raw}' installs from a URL; pin a version from the package index instead")
            key = canonicalize_name(req.name)
            if key in seen:
                raise ValueError(f"'{raw}' repeats the package of '{seen[key]}'")
            seen[key] = raw
        return value

    @model_validator(mode="after")
    def _conda_fields_need_conda(self) -> "EnvSpec":
        if self.builder != "conda" and (self.channels or self.conda_packages):
            raise ValueError("'channels' and 'conda_packages' are only used with builder: conda")
        if self.builder == "conda" and not self.channels:
            raise ValueError("builder: conda needs at least one channel (e.g. channels: [conda-forge])")
        return self

    def package_names(self) -> set[str]:
        """Canonical names of every package the spec asks for (pip and conda)."""
        names = {canonicalize_name(Requirement(r).name) for r in self.packages}
        names |= {
            canonicalize_name(re.split(r"[\s=<>!~\[]", spec.split("::")[-1], maxsplit=1)[0])
            for spec in self.conda_packages
        }
        return names

    def normalized(self) -> dict[str, object]:
        """What identifies the environment: everything but description and owner, in a stable form."""
        return {
            "name": self.name,
            "python": self.python,
            "builder": self.builder,
            "packages": sorted(str(Requirement(r)) for r in self.packages),
            "channels": list(self.channels),
            "conda_packages": sorted(self.conda_packages),
        }

    def digest(self) -> str:
        """sha256 of :meth:`normalized` (the lock records it to detect a changed spec)."""
        return hashlib.sha256(json.dumps(self.normalized(), sort_keys=True).encode()).hexdigest()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=True), sort_keys=False)


def envs_dir() -> Path:
    """The project's ``envs/`` folder."""
    return project_root() / "envs"


def spec_names() -> list[str]:
    """Names of the specs in ``envs/``."""
    return sorted(p.stem for p in envs_dir().glob("*.yaml"))


def spec_path(name_or_path: str | Path) -> Path:
    """``envs/<name>.yaml`` for a name, or the given path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise EnvError(
                f"environment spec {candidate} does not exist", "pass an existing YAML file or a name from envs/"
            )
        return candidate.resolve()
    path = envs_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(spec_names()) or "none"
        raise EnvError(f"environment '{name_or_path}' has no spec at {path}", f"known environments: {known}")
    return path


def _describe(exc: ValidationError, path: Path) -> EnvError:
    known = ", ".join(EnvSpec.model_fields)
    return EnvError(f"environment spec {path}: {problems(exc)}", f"known keys are: {known}")


def load_spec(name_or_path: str | Path) -> EnvSpec:
    """Read and validate an environment spec by name (``envs/<name>.yaml``) or path.

    Raises:
        EnvError: naming the file and the key when the YAML is invalid, a key is
            unknown, a requirement does not parse, or the name differs from the file name.
    """
    path = spec_path(name_or_path)
    data = read_mapping(path, EnvError, "environment spec")
    if isinstance(data.get("python"), float):
        raise EnvError(
            f"environment spec {path}: python: {data['python']} was read as a number", 'quote it: python: "3.11"'
        )
    try:
        spec = EnvSpec(**data)
    except ValidationError as exc:
        raise _describe(exc, path) from exc
    if spec.name != path.stem:
        raise EnvError(
            f"environment spec {path} declares name '{spec.name}'",
            f"name it '{path.stem}' or rename the file to {spec.name}.yaml",
        )
    return spec


@lru_cache(maxsize=1)
def arrow_requirements() -> tuple[Requirement, ...]:
    """What PySpark (the version installed here) needs on executors for Arrow work: its ``sql`` extra."""
    from importlib import metadata

    try:
        requires = metadata.requires("pyspark") or []
    except metadata.PackageNotFoundError:
        requires = []
    found = []
    for raw in requires:
        req = Requirement(raw)
        if req.marker is not None and req.marker.evaluate({"extra": "sql"}) and not req.marker.evaluate({"extra": ""}):
            found.append(Requirement(str(req).split(";")[0].strip()))
    return tuple(found) or tuple(Requirement(r) for r in _ARROW_FALLBACK)


def missing_arrow_packages(spec: EnvSpec) -> list[Requirement]:
    """Arrow packages (pandas, pyarrow, numpy) the spec does not name; the lock adds them."""
    present = spec.package_names()
    return [req for req in arrow_requirements() if canonicalize_name(req.name) not in present]
