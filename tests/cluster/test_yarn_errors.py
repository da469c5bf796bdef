"""What a user meets on a real cluster gets one clear message: no cluster, missing archive,
containers YARN cannot grant, an unknown or full queue, a failed application."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest
from cluster_support import JOBS, app_id, run_mlp, submit

pytestmark = pytest.mark.cluster


def test_no_hadoop_conf_dir_and_no_local_cluster(mlp_home, monkeypatch):
    monkeypatch.delenv("HADOOP_CONF_DIR", raising=False)
    done = run_mlp(["submit", "--profile", "yarn", "probe"])
    assert done.returncode == 1
    assert "HADOOP_CONF_DIR is not set and no one-machine Hadoop is running" in done.stderr
    assert "mlp hadoop up" in done.stderr


def test_conf_dir_of_a_stopped_cluster(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conf = tmp_path / "conf"
    conf.mkdir()
    site = "<configuration><property><name>{}</name><value>{}</value></property></configuration>"
    (conf / "core-site.xml").write_text(site.format("fs.defaultFS", f"hdfs://localhost:{port}"))
    (conf / "yarn-site.xml").write_text(site.format("yarn.resourcemanager.webapp.address", f"localhost:{port}"))
    done = run_mlp(["submit", "--profile", "yarn", "probe"], env={"HADOOP_CONF_DIR": str(conf)})
    assert done.returncode == 1
    assert f"ResourceManager at http://localhost:{port}" in done.stderr and "does not answer" in done.stderr
    assert "mlp hadoop up" in done.stderr


def test_archive_missing_on_hdfs(cluster, hdfs_env):
    from mlplatform import storage
    from mlplatform.envs.artifacts import MANIFEST

    missing = cluster.uri("/mlp/nowhere/env.tar.gz")
    done = submit(cluster, ["--spark-conf", f"spark.archives={missing}#environment", "probe"])
    assert done.returncode == 1
    assert f"spark.archives names {missing}#environment, which does not exist on HDFS" in done.stderr

    # An environment whose manifest was published but whose archive is gone.
    artifact, _ = hdfs_env
    broken = cluster.uri("/mlp/broken-artifacts")
    manifest = Path(artifact.folder) / MANIFEST
    storage.put(manifest, f"{broken}/envs/{artifact.name}/{artifact.hash}/{MANIFEST}", cluster.settings())
    done = submit(cluster, ["--env", artifact.id, "probe"], env={"MLP_ARTIFACTS": broken})
    assert done.returncode == 1
    assert f"the archive of {artifact.id} is missing at {broken}/envs/" in done.stderr


def test_containers_larger_than_any_node_are_refused_before_submit(cluster):
    done = submit(cluster, ["--spark-conf", "spark.executor.memory=5g", "probe"])
    assert done.returncode == 1
    assert "cannot grant this job's containers" in done.stderr
    assert "each executor 5632 MB" in done.stderr and "offer 6144 MB" in done.stderr
    assert "Using incubator modules" not in done.stderr  # refused before spark-submit started a JVM


def test_unknown_queue_is_refused_with_the_clusters_queues(cluster):
    done = submit(cluster, ["--spark-conf", "spark.yarn.queue=nosuchqueue", "probe"])
    assert done.returncode == 1
    assert "has no queue 'nosuchqueue' (spark.yarn.queue)" in done.stderr
    assert "use one of its queues: default, tiny" in done.stderr


def test_application_yarn_cannot_schedule_is_killed_with_diagnostics(cluster):
    done = submit(
        cluster,
        ["--spark-conf", "spark.yarn.queue=tiny", "--spark-conf", "spark.mlp.yarn.acceptTimeout=5", "probe"],
        timeout=300,
    )
    assert done.returncode == 1
    message = done.stderr.splitlines()[-1]
    assert "YARN did not schedule application" in message and "in queue 'root.tiny' within 5 s" in message
    assert "YARN says:" in message and "no diagnostics" not in message
    app = app_id(message)
    with urllib.request.urlopen(f"{cluster.resourcemanager_http}/ws/v1/cluster/apps/{app}") as resp:
        assert json.load(resp)["app"]["state"] == "KILLED"


def test_failed_application_reports_final_status_and_logs(cluster, cluster_mode):
    done = submit(
        cluster,
        [
            "--spark-conf",
            "spark.submit.deployMode=cluster",
            "--spark-conf",
            "spark.executor.instances=1",
            str(JOBS / "fail.py"),
        ],
        env=cluster_mode,
    )
    assert done.returncode == 1
    message = done.stderr.splitlines()[-1]
    assert "final status FAILED" in message and "YARN says:" in message
    app = app_id(message)
    assert f"mlp hadoop logs {app}" in message
    logs = run_mlp(["hadoop", "logs", app], env=cluster.home_env)
    assert logs.returncode == 0
    assert "the job gave up on purpose" in logs.stdout
