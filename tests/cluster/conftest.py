"""The cluster tier: one real HDFS + YARN (the one-machine Hadoop) for the whole session.

Every test module here sets ``pytestmark = pytest.mark.cluster``. The cluster starts
once, on free ports, in its own platform home; jobs run through the real
``mlp submit --profile yarn`` in a subprocess. At the end the cluster is stopped with ``mlp hadoop down`` and the tier
fails if any Hadoop process or YARN container is left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from cluster_support import REPO, TINY_QUEUE, Cluster, run_mlp


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Start the one-machine Hadoop once; stop it with ``mlp hadoop down`` and check nothing is left."""
    from mlplatform.config import load_settings
    from mlplatform.launch import minicluster

    home = tmp_path_factory.mktemp("hadoop") / ".mlp"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_PROJECT", str(REPO))
        mp.setenv("MLP_HOME", str(home))
        settings = load_settings()
        running, started = minicluster.up(settings, minicluster.Ports.any(), TINY_QUEUE)
    assert started
    try:
        yield Cluster(
            home=home,
            conf_dir=running.conf_dir,
            fs_default=running.fs_default,
            namenode_http=running.namenode_http,
            resourcemanager_http=running.resourcemanager_http,
            data_dir=running.data_dir,
        )
    finally:
        done = run_mlp(["hadoop", "down"], env={"MLP_HOME": str(home), "MLP_PROJECT": str(REPO)})
        leftover = minicluster.leftover_processes(settings)
        if leftover:
            minicluster.down(settings)
        assert done.returncode == 0 and "Hadoop stopped" in done.stdout, done.stdout + done.stderr
        assert not leftover, f"processes left after mlp hadoop down: {leftover}"
        # HDFS metadata stays for the next `mlp hadoop up` (no reformat, cached uploads kept).
        assert any((running.data_dir / "dfs" / "name-0-1" / "current").glob("fsimage_*"))


# The demo environment (envs/sklearn.yaml), built once per machine in the same cache
# as the training tier: scikit-learn 1.7.2, not the driver's version.
ENV_CACHE = REPO / ".mlp" / "test-cache" / "training-envs"


def _publish_on_hdfs(local, cluster: Cluster) -> str:  # type: ignore[no-untyped-def]
    """Put a locally built environment's folder under ``hdfs:///mlp/artifacts``, manifest last.

    That is exactly where ``mlp env build`` publishes when ``artifacts`` is an ``hdfs://`` URI.
    Returns the artifacts root.
    """
    from mlplatform import storage
    from mlplatform.envs.artifacts import MANIFEST

    artifacts = cluster.uri("/mlp/artifacts")
    folder = f"{artifacts}/envs/{local.name}/{local.hash}"
    settings = cluster.settings()
    if storage.exists(f"{folder}/{MANIFEST}", settings):
        return artifacts
    source = Path(local.folder)
    files = sorted(p for p in source.iterdir() if p.is_file() and p.name != MANIFEST)
    for path in [*files, source / MANIFEST]:
        storage.put(path, f"{folder}/{path.name}", settings)
    return artifacts


@pytest.fixture(scope="session")
def hdfs_env(cluster: Cluster):  # type: ignore[no-untyped-def]
    """``env:sklearn@<hash>`` published on the cluster's HDFS through WebHDFS (the ``hdfs`` package).

    The archive is built (or reused) locally, then its artifact folder is put under
    ``hdfs:///mlp/artifacts``.
    """
    from mlplatform import envs
    from mlplatform.config import load_settings

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_PROJECT", str(REPO))
        mp.setenv("MLP_HOME", str(ENV_CACHE / "home"))
        local = envs.build("sklearn", load_settings())
    return local, _publish_on_hdfs(local, cluster)


@pytest.fixture(scope="session")
def cluster_mode(hdfs_env) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Environment for a cluster-deploy-mode ``mlp submit``: artifacts on HDFS, the driver env built.

    The platform's driver env (``env:mlp-driver@...``, from this venv's versions) lives
    beside the Delta jars, shared by every platform home on this machine; it is built
    here once so that no submit spends its timeout building it.
    """
    from mlplatform.config import load_settings
    from mlplatform.envs.platform_env import driver_env

    driver_env(load_settings())
    return {"MLP_ARTIFACTS": hdfs_env[1]}
