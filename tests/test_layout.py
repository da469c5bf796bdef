from __future__ import annotations

import subprocess
import sys
import sysconfig

import pytest
from conftest import REPO


def test_platform_folder_is_not_a_package():
    assert (REPO / "platform" / "mlplatform" / "__init__.py").is_file()
    assert not (REPO / "platform" / "__init__.py").exists()


def test_import_platform_is_the_standard_library():
    code = "import platform, mlplatform; print(platform.__file__); print(platform.python_version())"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    ).stdout.split()
    assert out[0].startswith(sysconfig.get_paths()["stdlib"])
    assert out[1] == ".".join(map(str, sys.version_info[:3]))


def test_pins_keep_pyspark_within_what_delta_spark_accepts():
    from importlib import metadata

    from packaging.requirements import Requirement

    pyspark = metadata.version("pyspark")
    delta_reqs = [Requirement(r) for r in metadata.requires("delta-spark") or []]
    spec = next(r.specifier for r in delta_reqs if r.name == "pyspark")
    assert pyspark in spec
    assert int(metadata.version("pandas").split(".")[0]) < 3


def test_every_package_under_platform_is_installed_and_the_jobs_with_it():
    tomllib = pytest.importorskip("tomllib")
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    root = REPO / "platform"
    on_disk = {
        ".".join(init.parent.relative_to(root).parts)
        for init in root.rglob("__init__.py")
        if "__pycache__" not in init.parts and ".egg-info" not in str(init)
    }
    listed = set(setuptools["packages"])
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"
    assert listed - on_disk == {"mlplatform.jobs"}
    assert setuptools["package-dir"] == {"": "platform", "mlplatform.jobs": "jobs"}
    assert (REPO / "jobs" / "__init__.py").is_file()


def test_test_modules_outside_packages_have_unique_names():
    # pytest's rootdir-relative import keys such modules by file name alone, so two of one
    # name stop the whole collection ("import file mismatch")
    tests = REPO / "tests"
    seen: dict[str, list[str]] = {}
    for module in tests.rglob("test_*.py"):
        if not (module.parent / "__init__.py").is_file():
            seen.setdefault(module.name, []).append(str(module.relative_to(tests)))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not clashes, f"rename one of each: {clashes}"
