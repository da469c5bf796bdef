"""Jobs on YARN through ``mlp submit --profile yarn``: client and cluster mode, env archives, Delta on HDFS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
from cluster_support import JOBS, REPO, app_id, json_lines, submit

pytestmark = pytest.mark.cluster


def _in_containers(reports: list[dict], cluster) -> None:  # type: ignore[no-untyped-def]
    """Every report comes from a YARN container working directory of this cluster."""
    for report in reports:
        cwd = Path(report["cwd"])
        assert str(cwd).startswith(str(cluster.data_dir)), cwd
        assert cwd.name.startswith("container_") and cwd.parent.name.startswith("application_"), cwd


def _cluster_probe(cluster, env: dict[str, str], tmp_path: Path, args: list[str]) -> tuple[dict, list[dict]]:  # type: ignore[no-untyped-def]
    """Run the probe in cluster deploy mode; return the driver's report and the executors'."""
    out, driver_out = tmp_path / "reports.jsonl", tmp_path / "driver.json"
    done = submit(
        cluster,
        [
            "--spark-conf",
            "spark.submit.deployMode=cluster",
            "--spark-conf",
            "spark.executor.instances=1",
            *args,
            "probe",
            "--tasks",
            "2",
            "--packages",
            "scikit-learn",
            "--out",
            str(out),
            "--driver-out",
            str(driver_out),
        ],
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "FINISHED / SUCCEEDED" in done.stderr
    driver = json.loads(driver_out.read_text())
    reports = json_lines(out.read_text())
    assert len(reports) == 2
    _in_containers([driver, *reports], cluster)
    return driver, reports


def test_cluster_deploy_mode_driver_runs_the_platform_driver_env_with_the_project(cluster, cluster_mode, tmp_path):
    from mlplatform.config import load_settings

    driver, reports = _cluster_probe(cluster, cluster_mode, tmp_path, [])
    # The driver runs in its container, in the shipped platform driver env, not this machine's venv.
    assert Path(driver["prefix"]) == Path(driver["cwd"]) / "mlp-driver"
    assert driver["executable"] != sys.executable
    assert driver["packages"]["scikit-learn"] == metadata.version("scikit-learn")
    # It sees the project's conf/ and envs/ and this machine's settings, with a home of its own.
    project = Path(driver["project"])
    assert (project / "conf" / "models" / "churn.yaml").read_text() == (
        REPO / "conf" / "models" / "churn.yaml"
    ).read_text()
    assert (project / "envs" / "sklearn.yaml").is_file()
    here = load_settings()
    seen = driver["settings"]
    assert seen["artifacts"] == cluster_mode["MLP_ARTIFACTS"]
    assert (seen["warehouse"], seen["mlflow_tracking_uri"]) == (here.warehouse, here.mlflow_tracking_uri)
    assert seen["home"] == str(Path(driver["cwd"]) / ".mlp") and seen["spark_profile"] == "yarn"
    assert seen["code_version"].startswith("git:")
    # Without --env the executors run the driver env too: this machine's Python is not on cluster nodes.
    for report in reports:
        assert Path(report["prefix"]).name == "mlp-driver" and Path(report["prefix"]).parent == Path(report["cwd"])


def test_cluster_deploy_mode_with_env_driver_and_executors_in_their_own_envs(cluster, cluster_mode, hdfs_env, tmp_path):
    artifact, _ = hdfs_env
    driver, reports = _cluster_probe(cluster, cluster_mode, tmp_path, ["--env", artifact.id])
    assert Path(driver["prefix"]).name == "mlp-driver"
    assert driver["packages"]["scikit-learn"] == metadata.version("scikit-learn")
    for report in reports:
        assert Path(report["prefix"]) == Path(report["cwd"]) / "environment"
        assert (
            report["packages"]["scikit-learn"] == artifact.packages["scikit-learn"] != metadata.version("scikit-learn")
        )


def test_env_probe_in_client_mode_reuses_every_cached_upload(cluster, hdfs_env):
    from mlplatform import storage
    from mlplatform.launch import yarn
    from mlplatform.launch.profiles import base_conf

    artifact, artifacts = hdfs_env
    settings = cluster.settings()
    yarn.prepare(settings, base_conf(settings, "yarn"))  # publish the cached files, if no job did yet
    done = submit(
        cluster,
        [
            "--env",
            artifact.id,
            "--spark-conf",
            "spark.yarn.preserve.staging.files=true",
            "probe",
            "--tasks",
            "2",
            "--packages",
            "scikit-learn",
        ],
        env={"MLP_ARTIFACTS": artifacts},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "uploading" not in done.stderr
    # A successful job logs no error and no Java stack trace, also when its executors stop
    # while the driver stops (launch/log4j2.properties).
    noise = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if " ERROR " in line or line.startswith("\tat ") or "Exception in thread" in line
    ]
    assert not noise, "\n".join(noise)
    reports = json_lines(done.stdout)
    assert len(reports) == 2
    _in_containers(reports, cluster)
    env_sklearn = artifact.packages["scikit-learn"]
    assert env_sklearn != metadata.version("scikit-learn")
    # envs/sklearn.yaml is portable (the default builder): each container runs the CPython the archive carries,
    # not a venv linked to this machine's Python 3.11
    assert artifact.carries_interpreter
    for report in reports:
        assert Path(report["prefix"]).name == "environment"
        assert Path(report["prefix"]).parent == Path(report["cwd"])
        assert report["base_prefix"] == report["prefix"]
        assert report["packages"]["scikit-learn"] == env_sklearn
    # What this submit put on HDFS: Spark's generated conf and the platform's zip (--py-files), nothing else.
    staging = storage.listdir(cluster.uri(f"/user/root/.sparkStaging/{app_id(done.stderr)}"), settings)
    assert len(staging) == 2 and "__spark_conf__.zip" in staging
    assert [n for n in staging if n != "__spark_conf__.zip"][0].startswith("mlplatform-")


def _expected_table() -> pd.DataFrame:
    """The rows delta_roundtrip.py writes, computed independently with pandas."""
    ids = pd.Series(range(500), dtype="int64")
    base = pd.DataFrame({"id": ids, "part": (ids % 5).astype("int32"), "x": ids / 4, "label": "row-" + ids.astype(str)})
    extra = base[base["part"] == 2].assign(id=lambda d: d["id"] + 1000)
    return pd.concat([base, extra]).sort_values("id").reset_index(drop=True)


def test_delta_table_on_hdfs_written_on_yarn_and_read_without_a_jvm(cluster, tmp_path):
    table = cluster.uri("/mlp/warehouse/roundtrip")
    done = submit(
        cluster,
        [
            "--spark-conf",
            "spark.sql.shuffle.partitions=2",
            "--spark-conf",
            "spark.executor.instances=1",
            str(JOBS / "delta_roundtrip.py"),
            table,
        ],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json_lines(done.stdout)[-1]
    assert summary["versions"] == [0, 1]
    assert summary["rows"] == 600 and summary["rows_at_first"] == 500
    assert summary["containers"] and all(c.startswith("container_") for c in summary["containers"])

    out = tmp_path / "read.parquet"
    reader = (
        "import sys; from mlplatform import tables; "
        f"tables.to_pandas({table!r}).to_parquet({str(out)!r}); "
        "assert 'pyspark' not in sys.modules and 'py4j' not in sys.modules"
    )
    read = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, timeout=120)
    assert read.returncode == 0, read.stderr
    got = pd.read_parquet(out).sort_values("id").reset_index(drop=True)[["id", "part", "x", "label"]]
    got["label"] = got["label"].astype(object)
    pd.testing.assert_frame_equal(got, _expected_table(), check_dtype=True)


def test_in_process_session_on_the_yarn_profile(cluster):
    """A notebook's ``session(profile="yarn")`` finds the cluster and the cached jars like ``mlp submit``."""
    code = (
        "import json, os; from mlplatform.launch.session import session; from mlplatform.probe import executor_report; "
        "spark = session(profile='yarn', conf={'spark.executor.instances': '1'}); "
        "print(json.dumps({'reports': executor_report(spark, ['pandas'], tasks=2), "
        "'archive': spark.conf.get('spark.yarn.archive'), 'master': spark.sparkContext.master})); spark.stop()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HADOOP_CONF_DIR": str(cluster.conf_dir)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json_lines(done.stdout)[-1]
    assert result["master"] == "yarn"
    assert result["archive"].startswith(f"{cluster.fs_default}/user/root/.mlp/cache/")
    _in_containers(result["reports"], cluster)
