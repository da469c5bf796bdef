"""The conda builder, tested as far as this machine allows.

No conda executable and no conda channel are reachable here, so a real conda
environment cannot be created. What is tested: the spec, the clear error when no
conda executable exists (nothing locked or published), and packing with the real
conda-pack of a conda-layout prefix written by hand (one package record), whose
archive relocates with ``conda-unpack``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from mlplatform import envs
from mlplatform.envs.conda import pack_conda
from mlplatform.envs.lock import lock_path
from mlplatform.errors import EnvError

CONDA_SPEC = """\
name: condaenv
python: "3.11"
builder: conda
channels: [conda-forge]
conda_packages: ["scikit-learn=1.7"]
packages: [cloudpickle]
"""


def test_conda_build_without_conda_is_a_clear_error(tmp_path, settings, monkeypatch):
    monkeypatch.delenv("CONDA_EXE", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    spec = tmp_path / "condaenv.yaml"
    spec.write_text(CONDA_SPEC)
    with pytest.raises(EnvError, match="builder: conda needs a conda executable") as err:
        envs.build(spec, settings)
    assert "builder: venv" in (err.value.hint or "")
    assert not lock_path(spec).exists()
    assert not (Path(settings.artifacts) / "envs").exists()


def _conda_prefix(root: Path) -> Path:
    """A conda-layout prefix: conda-meta with one package record whose file embeds the prefix."""
    prefix = root / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "etc").mkdir()
    (prefix / "conda-meta" / "history").write_text("==> 2026-01-01 00:00:00 <==\n")
    (prefix / "etc" / "demo.cfg").write_text(f"home = {prefix}\n")
    record = {
        "name": "demo",
        "version": "1.0",
        "build": "0",
        "build_number": 0,
        "subdir": "noarch",
        "channel": "https://conda.anaconda.org/local",
        "fn": "demo-1.0-0.tar.bz2",
        "url": "https://conda.anaconda.org/local/noarch/demo-1.0-0.tar.bz2",
        "files": ["etc/demo.cfg"],
        "link": {"source": str(root / "pkgs" / "demo-1.0-0"), "type": 1},
        "paths_data": {
            "paths_version": 1,
            "paths": [
                {
                    "_path": "etc/demo.cfg",
                    "path_type": "hardlink",
                    "prefix_placeholder": str(prefix),
                    "file_mode": "text",
                }
            ],
        },
    }
    (prefix / "conda-meta" / "demo-1.0-0.json").write_text(json.dumps(record))
    return prefix


@pytest.mark.filterwarnings("ignore::UserWarning:conda_pack.core")  # "packages without entries in the package cache"
def test_conda_pack_archive_relocates_with_conda_unpack(tmp_path):
    prefix = _conda_prefix(tmp_path)
    archive = tmp_path / "env.tar.gz"
    pack_conda(prefix, archive)
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        assert {"etc/demo.cfg", "conda-meta/demo-1.0-0.json", "bin/conda-unpack"} <= names
        moved = tmp_path / "elsewhere"
        tar.extractall(moved, filter="fully_trusted")
    subprocess.run([sys.executable, str(moved / "bin" / "conda-unpack")], check=True, capture_output=True)
    assert (moved / "etc" / "demo.cfg").read_text() == f"home = {moved}\n"


def test_pack_of_a_non_conda_prefix_is_a_clear_error(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(EnvError, match="conda-pack cannot pack"):
        pack_conda(tmp_path / "plain", tmp_path / "x.tar.gz")
