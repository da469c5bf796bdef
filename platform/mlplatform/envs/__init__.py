"""Environments follow the model: spec -> lock -> build -> pack -> publish -> ship.

from mlplatform import envs
spec = envs.load_spec("sklearn")             # envs/sklearn.yaml, validated
artifact = envs.build("sklearn")             # cached by hash: env:sklearn@<hash12>
artifact = envs.resolve("env:sklearn@0123456789ab")
conf = envs.spark_conf(artifact, {"spark.master": "local-cluster[2,1,1024]"}, settings)
print(envs.dockerfile_dependency_layer(artifact))
"""

from __future__ import annotations

from mlplatform.envs.artifacts import (
    EnvArtifact,
    build,
    env_hash,
    list_artifacts,
    resolve,
    sign_published,
    unpack,
    verify_archive,
    verify_signature,
)
from mlplatform.envs.devenv import create_local, install_kernel
from mlplatform.envs.docker import docker_base_image, dockerfile_dependency_layer
from mlplatform.envs.lock import EnvLock, lock
from mlplatform.envs.shipping import ARCHIVE_PYTHON, ENV_ID_CONF, preflight, spark_conf
from mlplatform.envs.spec import EnvSpec, load_spec, spec_names

__all__ = [
    "EnvSpec",
    "EnvLock",
    "EnvArtifact",
    "load_spec",
    "spec_names",
    "lock",
    "build",
    "resolve",
    "list_artifacts",
    "env_hash",
    "verify_archive",
    "verify_signature",
    "sign_published",
    "unpack",
    "spark_conf",
    "preflight",
    "dockerfile_dependency_layer",
    "docker_base_image",
    "create_local",
    "install_kernel",
    "ENV_ID_CONF",
    "ARCHIVE_PYTHON",
]
