"""A portable environment (``builder: portable``) on YARN: containers run the CPython the archive carries.

The archive is the envs tier's portable test environment, published in the local artifact
store: the submit uploads it once to the user's HDFS cache (``launch.yarn``) and every container
unpacks it as ``./environment`` and starts the interpreter inside, as a node without Python 3.11 would.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster_support import json_lines, submit
from envs.conftest import CACHE, TEST_SKLEARN, build_portable

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.mark.timeout(900)
def test_yarn_containers_run_the_interpreter_the_archive_carries(cluster):
    from mlplatform.envs.interpreters import find_python

    artifact = build_portable()
    done = submit(
        cluster,
        [
            "--env",
            artifact.id,
            "--spark-conf",
            "spark.executor.instances=2",
            "probe",
            "--tasks",
            "2",
            "--packages",
            "scikit-learn",
        ],
        env={"MLP_ARTIFACTS": str(CACHE / "home" / "artifacts")},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"preflight of {artifact.id} passed" in done.stdout + done.stderr
    reports = json_lines(done.stdout)
    assert len(reports) == 2
    base = str(find_python(artifact.python_version).prefix)
    for report in reports:
        cwd = Path(report["cwd"])
        assert str(cwd).startswith(str(cluster.data_dir)) and cwd.name.startswith("container_"), cwd
        # The interpreter and its standard library come from the unpacked archive, not this machine's Python.
        assert report["executable"] == str(cwd / "environment" / "bin" / "python")
        assert report["prefix"] == report["base_prefix"] == str(cwd / "environment")
        assert not report["base_prefix"].startswith(base)
        assert report["packages"] == {"scikit-learn": TEST_SKLEARN}
