"""The client side of YARN without a cluster: HADOOP_CONF_DIR parsing, container sizes, queue lookup."""

from __future__ import annotations

import pytest

from mlplatform.errors import HadoopError
from mlplatform.launch.yarn import YarnCluster, _leaf_queues, container_mb, is_yarn, memory_mb

pytestmark = pytest.mark.cluster

SITE = "<configuration>{}</configuration>"
PROP = "<property><name>{}</name><value>{}</value></property>"


def test_conf_dir_values_and_hadoop_defaults(tmp_path):
    (tmp_path / "core-site.xml").write_text(SITE.format(PROP.format("fs.defaultFS", "hdfs://nn.example:8020/")))
    (tmp_path / "yarn-site.xml").write_text(SITE.format(PROP.format("yarn.resourcemanager.hostname", "rm.example")))
    cluster = YarnCluster.from_conf_dir(tmp_path)
    assert cluster.fs_default == "hdfs://nn.example:8020"
    assert cluster.namenode_http == "http://nn.example:9870"
    assert cluster.resourcemanager_http == "http://rm.example:8088"
    assert cluster.min_allocation_mb == 1024


def test_conf_dir_without_site_files_is_refused(tmp_path):
    with pytest.raises(HadoopError, match="holds no core-site.xml or yarn-site.xml"):
        YarnCluster.from_conf_dir(tmp_path)


def test_memory_strings():
    assert [memory_mb(v) for v in ("512m", "2g", "1024", "2gb", "1t")] == [512, 2048, 1024, 2048, 1024 * 1024]
    with pytest.raises(HadoopError, match="'1.5g' is not a memory size"):
        memory_mb("1.5g")


def test_container_sizes_follow_spark_overheads_and_yarn_rounding():
    # 1g heap + 384 MB minimum overhead = 1408 MB, rounded up to a multiple of 256 MB.
    assert container_mb({}, "executor", 256) == 1536
    assert container_mb({"spark.executor.memory": "5g"}, "executor", 256) == 5632  # 10 % overhead
    assert (
        container_mb({"spark.executor.memory": "2g", "spark.executor.pyspark.memory": "512m"}, "executor", 1024) == 3072
    )
    assert container_mb({}, "am", 256) == 1024  # spark.yarn.am.memory 512m + 384
    assert container_mb({"spark.driver.memory": "1g", "spark.driver.memoryOverhead": "1g"}, "driver", 512) == 2048


def test_leaf_queues_of_a_capacity_scheduler_answer():
    answer = {
        "schedulerInfo": {
            "queueName": "root",
            "queues": {
                "queue": [
                    {"queueName": "default", "queuePath": "root.default", "state": "RUNNING"},
                    {
                        "queueName": "etl",
                        "queuePath": "root.etl",
                        "state": "STOPPED",
                        "queues": {
                            "queue": [{"queueName": "nightly", "queuePath": "root.etl.nightly", "state": "RUNNING"}]
                        },
                    },
                ]
            },
        }
    }
    leaves = _leaf_queues(answer)
    assert set(leaves) == {"default", "root.default", "nightly", "root.etl.nightly"}


def test_is_yarn():
    assert is_yarn({"spark.master": "yarn"}) and not is_yarn({"spark.master": "local[*]"})
    assert is_yarn(["spark-submit", "--master", "yarn", "x.py"]) and not is_yarn(["spark-submit", "x.py"])
