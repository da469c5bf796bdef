"""Helpers of the cluster tier (fixtures are in conftest.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
JOBS = Path(__file__).with_name("jobs")
MLP = str(Path(sys.executable).with_name("mlp"))

# A queue too small for any application master: applications wait in ACCEPTED forever.
TINY_QUEUE = {
    "yarn.scheduler.capacity.root.queues": "default,tiny",
    "yarn.scheduler.capacity.root.default.capacity": "99",
    "yarn.scheduler.capacity.root.tiny.capacity": "1",
    "yarn.scheduler.capacity.root.tiny.maximum-capacity": "1",
}


@dataclass(frozen=True)
class Cluster:
    """The session's running Hadoop and what a subprocess needs to use it."""

    home: Path
    conf_dir: Path
    fs_default: str
    namenode_http: str
    resourcemanager_http: str
    data_dir: Path

    @property
    def env(self) -> dict[str, str]:
        """Environment for ``mlp`` subprocesses: the cluster's conf dir and WebHDFS."""
        return {"HADOOP_CONF_DIR": str(self.conf_dir), "MLP_WEBHDFS_URL": self.namenode_http, "MLP_HDFS_USER": "root"}

    @property
    def home_env(self) -> dict[str, str]:
        """Environment that makes ``mlp hadoop ...`` see this cluster (its platform home)."""
        return {"MLP_HOME": str(self.home)}

    def uri(self, path: str) -> str:
        return f"{self.fs_default}/{path.lstrip('/')}"

    def settings(self):  # type: ignore[no-untyped-def]
        """Platform settings that reach this cluster's HDFS over WebHDFS."""
        from mlplatform.config import load_settings

        return load_settings(
            environ={
                "MLP_HOME": str(self.home),
                "MLP_WEBHDFS_URL": self.namenode_http,
                "MLP_HDFS_USER": "root",
                "MLP_HADOOP_CONF_DIR": str(self.conf_dir),
            }
        )


def run_mlp(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """The real ``mlp`` console script in a subprocess (this test's MLP_* variables plus ``env``)."""
    return subprocess.run(
        [MLP, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=REPO, timeout=timeout
    )


def submit(cluster: Cluster, args: list[str], env: dict[str, str] | None = None, timeout: float = 600):
    """``mlp submit --profile yarn ARGS`` against the session's cluster."""
    return run_mlp(["submit", "--profile", "yarn", *args], env={**cluster.env, **(env or {})}, timeout=timeout)


APP_ID = re.compile(r"application_\d+_\d+")


def app_id(output: str) -> str:
    """The YARN application id ``mlp submit`` reported."""
    match = APP_ID.search(output)
    assert match, f"no application id in:\n{output}"
    return match.group(0)


def json_lines(text: str) -> list[dict]:
    """The JSON objects printed one per line (other lines ignored)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
