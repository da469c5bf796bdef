"""The SparkSession of a profile, with the Delta engine and, optionally, a model's environment.

A profile (:mod:`mlplatform.launch.profiles`) names the master: ``local`` runs
``local[*]`` in one JVM, ``local-cluster`` starts separate executor JVMs, ``yarn``
submits to the cluster named by ``HADOOP_CONF_DIR`` (:mod:`mlplatform.launch.yarn`).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from mlplatform import envs
from mlplatform.config import Settings, load_settings
from mlplatform.envs.shipping import ENV_ID_CONF
from mlplatform.errors import SparkSetupError
from mlplatform.launch import yarn
from mlplatform.launch.java import find_java
from mlplatform.launch.profiles import base_conf, spark_home
from mlplatform.launch.zips import platform_zip

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from mlplatform.envs import EnvArtifact

__all__ = ["session", "under_spark_submit", "prepare_process_env"]

log = logging.getLogger(__name__)


def prepare_process_env(settings: Settings, master: str) -> None:
    """Set JAVA_HOME, SPARK_HOME (local-cluster) and the Python of workers before a JVM starts."""
    java = find_java()
    os.environ["JAVA_HOME"] = str(java.home)
    if master.startswith("local-cluster"):
        os.environ["SPARK_HOME"] = str(spark_home(settings))
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


def under_spark_submit() -> bool:
    """True inside a driver started by spark-submit, which already carries the full conf."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def session(
    profile: str | None = None,
    app_name: str = "mlplatform",
    conf: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    env: "str | EnvArtifact | None" = None,
) -> "SparkSession":
    """Get or create the SparkSession for a profile.

    Args:
        profile: profile name in ``conf/spark/`` (default: the ``spark_profile`` setting).
        app_name: Spark application name.
        conf: extra Spark settings, applied last.
        settings: platform settings (default: :func:`load_settings`).
        env: an environment (``env:<name>@<hash12>``, a name, or an ``EnvArtifact``) whose
            archive the Python workers run in; checked by a preflight task once Spark is up.

    Inside a driver started by spark-submit (``mlp submit``) the launcher already
    applied the profile, jars and archives; only ``conf`` is added then, and the
    environment shipped with ``mlp submit --env`` gets its preflight check.
    """
    from pyspark.sql import SparkSession

    if under_spark_submit():
        builder = SparkSession.builder.appName(app_name)
        for key, value in (conf or {}).items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        _preflight_submitted_env(spark, settings)
        return spark
    settings = settings or load_settings()
    profile = profile or settings.spark_profile
    full = base_conf(settings, profile)
    full["spark.submit.pyFiles"] = str(platform_zip(Path(settings.home) / "dist"))
    full.update(conf or {})
    artifact = None
    if env is not None:
        artifact = envs.resolve(env, settings)
        full.update(envs.spark_conf(artifact, full, settings))
    if full["spark.master"].startswith("yarn"):
        os.environ.update(yarn.prepare(settings, full, profile))  # HADOOP_CONF_DIR, cached jars on HDFS
    prepare_process_env(settings, full["spark.master"])

    builder = SparkSession.builder.appName(app_name)
    for key, value in full.items():
        builder = builder.config(key, value)
    log.info("starting Spark (profile %s, master %s)", profile, full["spark.master"])
    if artifact is None:
        spark = builder.getOrCreate()
    else:
        spark = _start_with_worker_python(builder, full["spark.pyspark.python"], artifact.id)
    spark.sparkContext.setLogLevel("ERROR")
    if artifact is not None:
        envs.preflight(spark, artifact)
    return spark


def _start_with_worker_python(builder: "SparkSession.Builder", python: str, env_id: str) -> "SparkSession":
    """Start the context with ``PYSPARK_PYTHON=python`` (read once, at start), then restore the variable."""
    from pyspark import SparkContext

    active = SparkContext._active_spark_context
    if active is not None and active.pythonExec != python:
        raise SparkSetupError(
            f"a SparkSession is already running with Python workers on {active.pythonExec}, "
            f"so {env_id} cannot be applied",
            "stop it first (spark.stop()), or start the session with env= before anything else",
        )
    previous = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = python
    try:
        return builder.getOrCreate()
    finally:
        if previous is None:
            os.environ.pop("PYSPARK_PYTHON", None)
        else:
            os.environ["PYSPARK_PYTHON"] = previous


_PREFLIGHT_DONE: set[str] = set()


def _preflight_submitted_env(spark: "SparkSession", settings: Settings | None) -> None:
    """Inside a spark-submit driver: check the environment ``mlp submit --env`` shipped, once per application."""
    env_id = spark.conf.get(ENV_ID_CONF, None)
    key = f"{spark.sparkContext.applicationId}/{env_id}"
    if not env_id or key in _PREFLIGHT_DONE:
        return
    envs.preflight(spark, envs.resolve(env_id, settings or load_settings()))
    _PREFLIGHT_DONE.add(key)
