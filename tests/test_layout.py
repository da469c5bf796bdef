from __future__ import annotations

import subprocess
import sys
import sysconfig

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
