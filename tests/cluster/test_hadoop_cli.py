"""``mlp hadoop``: the one-machine Hadoop's lifecycle, status and its HDFS through WebHDFS."""

from __future__ import annotations

import os
import re

import pytest
from cluster_support import run_mlp

pytestmark = pytest.mark.cluster


def test_second_up_reports_the_running_cluster_instead_of_starting_another(cluster):
    done = run_mlp(["hadoop", "up"], env=cluster.home_env)
    assert done.returncode == 0, done.stderr
    assert "already running" in done.stdout
    assert cluster.namenode_http in done.stdout and cluster.resourcemanager_http in done.stdout
    assert f"HADOOP_CONF_DIR={cluster.conf_dir}" in done.stdout


def test_status_lists_live_nodes_and_conf_dir_names_the_cluster(cluster):
    from mlplatform.launch.yarn import YarnCluster

    done = run_mlp(["hadoop", "status"], env=cluster.home_env)
    assert done.returncode == 0, done.stderr
    assert "live DataNodes: 1" in done.stdout
    assert "NodeManagers: 1" in done.stdout and "RUNNING  memory 0/6144 MB" in done.stdout
    parsed = YarnCluster.from_conf_dir(cluster.conf_dir)
    assert parsed.fs_default == cluster.fs_default
    assert parsed.namenode_http == cluster.namenode_http
    assert parsed.resourcemanager_http == cluster.resourcemanager_http
    exports = run_mlp(["hadoop", "env"], env=cluster.home_env).stdout
    assert f"export HADOOP_CONF_DIR={cluster.conf_dir}" in exports


def test_status_and_down_without_a_cluster_say_so(mlp_home):
    status = run_mlp(["hadoop", "status"])
    assert status.returncode == 1
    assert "Hadoop is not running" in status.stderr and "mlp hadoop up" in status.stderr
    down = run_mlp(["hadoop", "down"])
    assert down.returncode == 0 and "was not running" in down.stdout


def test_storage_round_trip_on_hdfs(cluster, tmp_path):
    from mlplatform import storage

    settings = cluster.settings()
    source = tmp_path / "blob.bin"
    source.write_bytes(bytes(range(256)) * 64)
    uri = cluster.uri("/mlp/tests/storage/deep/blob.bin")
    storage.put(source, uri, settings)
    assert storage.exists(uri, settings)
    assert storage.listdir(cluster.uri("/mlp/tests/storage/deep"), settings) == ["blob.bin"]
    with storage.open_read(uri, settings) as fh:
        assert fh.read() == source.read_bytes()
    assert storage.get(uri, tmp_path / "back.bin", settings).read_bytes() == source.read_bytes()
    assert storage.delete(cluster.uri("/mlp/tests/storage"), recursive=True, settings=settings)
    assert not storage.exists(uri, settings)


def _used_percent(path) -> float:  # type: ignore[no-untyped-def]
    """Disk use as YARN's disk health checker counts it: all but the space users may still write."""
    stat = os.statvfs(path)
    return 100.0 * (1 - stat.f_bavail / stat.f_blocks)


def test_up_on_a_disk_fuller_than_the_nodemanager_accepts_starts_nothing(mlp_home):
    from mlplatform.launch.minicluster import DISK_LIMIT_KEY

    used = _used_percent(mlp_home)
    assert used >= 2, f"this test needs a disk at least 2% used, this one is {used:.1f}%"
    limit = int(used) - 1
    done = run_mlp(["hadoop", "up", "--nn-port", "0", "--set", f"{DISK_LIMIT_KEY}={limit}"])
    assert done.returncode == 1
    message = done.stderr.strip().splitlines()[-1]
    data = mlp_home / "hadoop" / "data"
    shown = re.search(rf"the disk of {re.escape(str(data))} is (\d+)% used", message)
    assert shown and abs(int(shown.group(1)) - used) <= 1, message  # other processes write meanwhile
    assert f"runs nothing above {limit}% ({DISK_LIMIT_KEY})" in message and "free disk space" in message, message
    assert not (mlp_home / "hadoop" / "launcher.pid").exists()
    assert run_mlp(["hadoop", "status"]).returncode == 1


def test_up_with_a_disk_limit_that_is_not_a_number_says_so(mlp_home):
    from mlplatform.launch.minicluster import DISK_LIMIT_KEY

    done = run_mlp(["hadoop", "up", "--set", f"{DISK_LIMIT_KEY}=most"])
    assert done.returncode == 1
    assert f"{DISK_LIMIT_KEY}=most is not a percentage" in done.stderr and "from 0 to 100" in done.stderr
    assert not (mlp_home / "hadoop" / "launcher.pid").exists()
