"""Build, pack, publish and resolve: the real test environment (built once per session)."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from importlib import metadata
from pathlib import Path

import pytest

from envs.conftest import TEST_ENV, TEST_SKLEARN, copy_artifact, write_spec
from mlplatform import envs
from mlplatform.errors import EnvError

pytestmark = pytest.mark.slow


def test_artifact_is_published_with_a_complete_manifest(built_env):
    artifact = built_env.artifact
    folder = Path(artifact.folder)
    assert sorted(p.name for p in folder.iterdir()) == ["env.tar.gz", "lock.txt", "manifest.json", "spec.yaml"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert artifact.id == f"env:{TEST_ENV}@{artifact.hash}" == manifest["id"]
    assert manifest["hash"].startswith(artifact.hash) and len(manifest["hash"]) == 64
    with open(artifact.uri, "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == manifest["archive"]["sha256"]
    assert manifest["archive"]["size"] == os.path.getsize(artifact.uri)
    assert Path(manifest["python"]["executable"]).is_file()
    assert manifest["python"]["bundled"] is False
    assert {"created_at", "created_by", "builder", "tools"} <= set(manifest)
    assert artifact.packages["scikit-learn"] == TEST_SKLEARN != metadata.version("scikit-learn")
    assert sorted(a.split(">")[0] for a in manifest["added"]) == ["numpy", "pandas", "pyarrow"]
    assert (folder / "lock.txt").read_text() == built_env.spec_path.with_name(f"{TEST_ENV}.lock.txt").read_text()


def test_archive_is_a_venv_without_pip_linked_to_the_base_python(built_env):
    with tarfile.open(built_env.artifact.uri) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert "pyvenv.cfg" in members
    python = members["bin/python3.11"]
    assert python.issym() and python.linkname == built_env.artifact.manifest["python"]["executable"]
    assert any(name.startswith("lib/python3.11/site-packages/sklearn/") for name in members)
    assert not any(name.startswith("lib/python3.11/site-packages/pip/") for name in members)


def test_second_build_does_no_pip_work_and_returns_the_same_id(built_env, monkeypatch, tmp_path):
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # any pip resolution or download would fail now
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    monkeypatch.setenv("MLP_HOME", str(Path(built_env.artifacts_root).parent))
    again = envs.build(built_env.spec_path)
    assert again.id == built_env.id
    assert again.manifest["created_at"] == built_env.artifact.manifest["created_at"]


def test_resolve_by_id_short_ref_and_name(built_env, monkeypatch):
    monkeypatch.setenv("MLP_ARTIFACTS", str(built_env.artifacts_root))
    a = built_env.artifact
    assert envs.resolve(a.id) == envs.resolve(f"{a.name}@{a.hash}") == envs.resolve(a.name) == a
    # the cache home also holds the portable test env (tests/envs/test_portable.py): only this name counts
    assert [x.id for x in envs.list_artifacts() if x.name == a.name] == [a.id]


def test_unknown_refs_are_clear_errors(built_env, monkeypatch):
    monkeypatch.setenv("MLP_ARTIFACTS", str(built_env.artifacts_root))
    with pytest.raises(EnvError, match=f"env:{TEST_ENV}@000000000000 is not published") as err:
        envs.resolve(f"env:{TEST_ENV}@000000000000")
    assert built_env.id in (err.value.hint or "")
    with pytest.raises(EnvError, match="has no build"):
        envs.resolve("nothing-built")
    with pytest.raises(EnvError, match="is not an environment reference"):
        envs.resolve("env:Bad Name@xyz")


def test_failed_install_publishes_nothing(built_env, settings, tmp_path):
    spec = write_spec(tmp_path, built_env.spec_path.read_text(), TEST_ENV)
    lock_text = built_env.spec_path.with_name(f"{TEST_ENV}.lock.txt").read_text()
    spec.with_name(f"{TEST_ENV}.lock.txt").write_text(
        lock_text.replace(f"scikit-learn=={TEST_SKLEARN}", "scikit-learn==0.0.999")
    )
    with pytest.raises(EnvError, match=r"installing environment 'mlptest': pip failed"):
        envs.build(spec, settings)
    assert not (Path(settings.artifacts) / "envs" / TEST_ENV).exists() or not any(
        (Path(settings.artifacts) / "envs" / TEST_ENV).iterdir()
    )
    assert not any((Path(settings.home) / "envs" / "build").iterdir())


def test_corrupt_archive_is_detected(built_env, settings):
    folder = copy_artifact(built_env, Path(settings.artifacts), archive=b"not the archive")
    artifact = envs.resolve(built_env.id, settings)
    assert artifact.folder == str(folder)
    with pytest.raises(EnvError, match=r"is corrupt: sha256 .* differs from the manifest's") as err:
        envs.verify_archive(artifact, settings)
    assert f"mlp env build {TEST_ENV}" in (err.value.hint or "")


def test_missing_archive_is_rebuilt_not_reused(built_env, settings):
    copy_artifact(built_env, Path(settings.artifacts), archive=None)
    artifact = envs.resolve(built_env.id, settings)
    with pytest.raises(EnvError, match="is missing at"):
        envs.verify_archive(artifact, settings)
    from mlplatform.envs.artifacts import _cached

    assert _cached(artifact.folder, settings) is None  # build would start over
    assert not Path(artifact.folder).exists()


def test_dev_copy_runs_the_env(built_env, settings, tmp_path):
    import subprocess

    folder = envs.create_local(built_env.artifact, tmp_path / "dev", settings)
    out = subprocess.run(
        [str(folder / "bin" / "python"), "-c", "import sys, sklearn; print(sys.prefix, sklearn.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [str(folder), TEST_SKLEARN]
    assert envs.create_local(built_env.artifact, tmp_path / "dev", settings) == folder  # reused
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("")
    with pytest.raises(EnvError, match="is not an unpacked copy"):
        envs.create_local(built_env.artifact, tmp_path / "other", settings)
