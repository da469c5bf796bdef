"""Shipping: executors run the archive's Python (local-cluster, local), preflight, submit errors."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
import tarfile
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import pytest
from conftest import REPO, run_mlp

from envs.conftest import TEST_ENV, TEST_SKLEARN, copy_artifact
from mlplatform import envs
from mlplatform.errors import EnvError
from mlplatform.launch.profiles import load_profile

pytestmark = pytest.mark.slow


def _reports(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.timeout(600)
def test_local_cluster_executors_run_the_shipped_environment(built_env, mlp_home, tmp_path):
    out = tmp_path / "probe.jsonl"
    result = run_mlp(
        [
            "submit",
            "--profile",
            "local-cluster",
            "--env",
            built_env.id,
            "probe",
            "--packages",
            "scikit-learn",
            "--out",
            str(out),
        ],
        env={"MLP_ARTIFACTS": str(built_env.artifacts_root)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"preflight of {built_env.id} passed" in result.stdout + result.stderr  # driver stderr goes to stdout
    reports = _reports(out)
    assert len(reports) == 2
    work = mlp_home / "spark-home" / "work"
    for report in reports:
        cwd = Path(str(report["cwd"]))
        assert cwd.is_relative_to(work)  # an executor's own working directory
        assert report["executable"] == str(cwd / "environment" / "bin" / "python")
        assert report["prefix"] == str(cwd / "environment")
        assert report["packages"] == {"scikit-learn": TEST_SKLEARN}
    assert TEST_SKLEARN != metadata.version("scikit-learn")


def test_submit_print_shows_archive_and_python(built_env):
    result = run_mlp(
        ["submit", "--print", "--profile", "local-cluster", "--env", built_env.id, "probe"],
        env={"MLP_ARTIFACTS": str(built_env.artifacts_root)},
    )
    assert result.returncode == 0, result.stderr
    argv = shlex.split(result.stdout)
    assert argv[argv.index("--archives") + 1] == f"file://{built_env.artifact.uri}#environment"
    confs = {argv[i + 1] for i, arg in enumerate(argv) if arg == "--conf"}
    assert {
        "spark.pyspark.python=./environment/bin/python",
        f"spark.pyspark.driver.python={sys.executable}",
        f"spark.mlplatform.env.id={built_env.id}",
    } <= confs


def test_local_profile_workers_use_an_unpacked_copy(built_env, mlp_home, tmp_path):
    out = tmp_path / "probe.jsonl"
    result = run_mlp(
        [
            "submit",
            "--profile",
            "local",
            "--env",
            built_env.id,
            "probe",
            "--packages",
            "scikit-learn",
            "--tasks",
            "2",
            "--out",
            str(out),
        ],
        env={"MLP_ARTIFACTS": str(built_env.artifacts_root)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    unpacked = mlp_home / "envs" / "local" / f"{TEST_ENV}-{built_env.artifact.hash}"
    for report in _reports(out):
        assert report["executable"] == str(unpacked / "bin" / "python")
        assert report["packages"] == {"scikit-learn": TEST_SKLEARN}


def test_in_process_session_sets_worker_python_and_restores_it(built_env, mlp_home):
    code = f"""
import json, os
from mlplatform.launch.session import session
from mlplatform.probe import executor_report
from mlplatform.errors import SparkSetupError
spark = session(profile="local", env={built_env.id!r}, conf={{"spark.default.parallelism": "2"}})
with_env = executor_report(spark, ["scikit-learn"], 2)
try:
    session(profile="local", env={built_env.id!r} + "x")
except Exception as exc:
    refused = type(exc).__name__
spark.stop()
spark = session(profile="local")
without = executor_report(spark, ["scikit-learn"], 1)
spark.stop()
print(json.dumps({{"with": with_env, "without": without, "refused": refused, "var": os.environ.get("PYSPARK_PYTHON")}}))
"""
    env = {"MLP_ARTIFACTS": str(built_env.artifacts_root)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**__import__("os").environ, **env},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(result.stdout.strip().splitlines()[-1])
    unpacked = mlp_home / "envs" / "local" / f"{TEST_ENV}-{built_env.artifact.hash}"
    assert {r["executable"] for r in data["with"]} == {str(unpacked / "bin" / "python")}
    assert {r["packages"]["scikit-learn"] for r in data["with"]} == {TEST_SKLEARN}
    assert data["refused"] == "EnvError"  # bad reference, before touching the running session
    assert data["without"][0]["packages"]["scikit-learn"] == metadata.version("scikit-learn")
    assert data["var"] == sys.executable


def _archive_without_base_python(base: str) -> bytes:
    """A venv archive as venv-pack makes it on a machine whose Python lives at ``base``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        cfg = f"home = {Path(base).parent}\ninclude-system-site-packages = false\nversion = 3.11.7\n".encode()
        info = tarfile.TarInfo("pyvenv.cfg")
        info.size = len(cfg)
        tar.addfile(info, io.BytesIO(cfg))
        for name, target in (("bin/python3.11", base), ("bin/python", "python3.11"), ("bin/python3", "python3.11")):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, target
            tar.addfile(link)
    return buffer.getvalue()


@pytest.mark.timeout(600)
def test_preflight_names_the_missing_base_interpreter(built_env, settings, tmp_path):
    import hashlib

    base = "/opt/python-elsewhere/bin/python3.11"
    archive = _archive_without_base_python(base)
    folder = copy_artifact(built_env, Path(settings.artifacts), archive=archive)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["python"]["executable"] = base
    manifest["archive"].update(sha256=hashlib.sha256(archive).hexdigest(), size=len(archive))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = run_mlp(["submit", "--profile", "local-cluster", "--env", built_env.id, "probe"])
    assert result.returncode != 0
    output = result.stdout + result.stderr  # the driver's stderr reaches spark-submit's stdout
    assert f"{built_env.id} cannot start Python on the executors" in output
    assert f"base interpreter {base}, which must exist at that path on every node" in output
    assert "builder: portable" in output


def test_submit_refuses_missing_and_corrupt_archives(built_env, settings):
    folder = copy_artifact(built_env, Path(settings.artifacts), archive=None)
    result = run_mlp(["submit", "--print", "--profile", "local-cluster", "--env", built_env.id, "probe"])
    assert result.returncode == 1
    assert f"Error: the archive of {built_env.id} is missing at {folder}/env.tar.gz" in result.stderr
    (folder / "env.tar.gz").write_bytes(b"garbage")
    result = run_mlp(["submit", "--print", "--profile", "local-cluster", "--env", built_env.id, "probe"])
    assert result.returncode == 1
    assert "is corrupt: sha256" in result.stderr
    result = run_mlp(["submit", "--print", "--env", "env:mlptest@0123456789ab", "probe"])
    assert result.returncode == 1 and "is not published" in result.stderr


def test_driver_python_must_match_the_env(built_env, settings):
    other = replace(built_env.artifact, python_version="3.12.1")
    with pytest.raises(EnvError, match=r"runs Python 3.12.1 but this driver runs Python 3.11"):
        envs.spark_conf(
            other,
            load_profile("local-cluster"),
            settings.model_copy(update={"artifacts": str(built_env.artifacts_root)}),
        )


def test_yarn_conf_sets_application_master_python(built_env, settings):
    shared = settings.model_copy(update={"artifacts": str(built_env.artifacts_root)})
    client = envs.spark_conf(built_env.artifact, load_profile("yarn"), shared)
    assert client["spark.archives"] == f"file://{built_env.artifact.uri}#environment"
    assert client["spark.yarn.appMasterEnv.PYSPARK_PYTHON"] == "./environment/bin/python"
    assert client["spark.pyspark.driver.python"] == sys.executable
    cluster = envs.spark_conf(
        built_env.artifact,
        {**load_profile("yarn"), "spark.submit.deployMode": "cluster", "spark.archives": "hdfs:///x/other.zip#other"},
        shared,
    )
    # In cluster mode the driver runs the platform's driver env (cluster_mode.driver_conf), not this one.
    assert (
        "spark.yarn.appMasterEnv.PYSPARK_DRIVER_PYTHON" not in cluster and "spark.pyspark.driver.python" not in cluster
    )
    assert cluster["spark.yarn.appMasterEnv.PYSPARK_PYTHON"] == "./environment/bin/python"
    assert cluster["spark.archives"] == f"hdfs:///x/other.zip#other,file://{built_env.artifact.uri}#environment"
