"""Fixtures for environment tests.

Building a real venv downloads wheels and packs ~170 MB, so the test environment
is built once per test session and kept under ``<repo>/.mlp/test-cache/envs``:
a rerun with the same spec (same hash) reuses the published artifact.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from conftest import REPO

CACHE = REPO / ".mlp" / "test-cache" / "envs"

# Small on purpose: one model library at a version other than the driver's;
# pandas, pyarrow and numpy are added by the lock (Arrow packages).
TEST_ENV = "mlptest"
TEST_SKLEARN = "1.7.2"
TEST_SPEC = f"""\
name: {TEST_ENV}
description: environment of the envs tests
python: "3.11"
builder: venv
packages:
  - scikit-learn=={TEST_SKLEARN}
"""
# The same environment with builder: portable (its archive carries its CPython).
PORTABLE_ENV = "mlptest-portable"
PORTABLE_SPEC = f"""\
name: {PORTABLE_ENV}
description: portable environment of the envs tests
python: "3.11"
builder: portable
packages:
  - scikit-learn=={TEST_SKLEARN}
"""


@dataclass(frozen=True)
class BuiltEnv:
    """The session's test environment: its artifact and where it is published."""

    artifact: "object"
    spec_path: Path
    artifacts_root: Path

    @property
    def id(self) -> str:
        return self.artifact.id  # type: ignore[attr-defined]


def write_spec(folder: Path, text: str, name: str) -> Path:
    """Write ``<folder>/<name>.yaml`` only when its text changed (keeps the lock beside it valid)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


@pytest.fixture(scope="session")
def built_env() -> Iterator[BuiltEnv]:
    """The test environment, built (or reused from the cache) once per session."""
    from mlplatform import envs
    from mlplatform.config import load_settings

    home = CACHE / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_PROJECT", str(REPO))
        mp.setenv("MLP_HOME", str(home))
        settings = load_settings()
        spec = write_spec(CACHE / "specs", TEST_SPEC, TEST_ENV)
        artifact = envs.build(spec, settings)
    # Builds of older test specs are dead weight: keep only this one.
    for other in (home / "artifacts" / "envs" / TEST_ENV).iterdir():
        if other.name != artifact.hash:
            shutil.rmtree(other, ignore_errors=True)
    yield BuiltEnv(artifact, spec, Path(settings.artifacts or ""))


def build_portable():  # type: ignore[no-untyped-def]
    """The portable test environment, built (or reused from the cache): the envs and cluster tiers share it."""
    from mlplatform import envs
    from mlplatform.config import load_settings

    home = CACHE / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_PROJECT", str(REPO))
        mp.setenv("MLP_HOME", str(home))
        artifact = envs.build(write_spec(CACHE / "specs", PORTABLE_SPEC, PORTABLE_ENV), load_settings())
    for other in (home / "artifacts" / "envs" / PORTABLE_ENV).iterdir():
        if other.name != artifact.hash:
            shutil.rmtree(other, ignore_errors=True)
    return artifact


def copy_artifact(built: BuiltEnv, artifacts_root: Path, archive: bytes | None = None) -> Path:
    """Copy the built artifact's metadata into another artifact store, with ``archive`` as its archive (or none)."""
    source = Path(built.artifact.folder)  # type: ignore[attr-defined]
    target = artifacts_root / "envs" / TEST_ENV / source.name
    target.mkdir(parents=True)
    for name in ("manifest.json", "spec.yaml", "lock.txt"):
        shutil.copyfile(source / name, target / name)
    if archive is not None:
        (target / "env.tar.gz").write_bytes(archive)
    return target


def read_manifest(folder: Path) -> dict[str, object]:
    return json.loads((folder / "manifest.json").read_text())
