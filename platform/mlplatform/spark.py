"""SparkSession from a profile in ``conf/spark/`` with the Delta engine on the classpath.

A profile is a ``spark-defaults.conf``-style file: one ``key value`` per line,
``#`` for comments. ``local`` runs ``local[*]`` in one JVM, ``local-cluster``
starts separate executor JVMs, ``yarn`` submits to the cluster named by
``HADOOP_CONF_DIR``.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from mlplatform import jars
from mlplatform.config import Settings, conf_dir, load_settings
from mlplatform.errors import SparkSetupError
from mlplatform.java import find_java
from mlplatform.pyfiles import platform_zip

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from mlplatform.envs import EnvArtifact

__all__ = ["load_profile", "profile_names", "session", "spark_home", "pyspark_home", "delta_conf", "LOG4J_FILE"]

log = logging.getLogger(__name__)

LOG4J_FILE = Path(__file__).with_name("log4j2.properties")

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def profile_names() -> list[str]:
    """Profiles available in ``conf/spark/``."""
    return sorted(p.stem for p in (conf_dir() / "spark").glob("*.conf"))


def load_profile(name: str) -> dict[str, str]:
    """Parse ``conf/spark/<name>.conf`` into a dict of Spark settings."""
    path = conf_dir() / "spark" / f"{name}.conf"
    if not path.is_file():
        known = ", ".join(profile_names()) or "none"
        raise SparkSetupError(f"Spark profile '{name}' not found at {path}", f"available profiles: {known}")
    conf: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise SparkSetupError(f"{path}:{number}: expected 'key value', got '{line}'")
        conf[parts[0]] = os.path.expandvars(parts[1].strip())
    if "spark.master" not in conf:
        raise SparkSetupError(f"{path} sets no spark.master", "add a line such as 'spark.master local[*]'")
    return conf


def pyspark_home() -> Path:
    """The installed pyspark package folder (holds bin/, jars/, python/)."""
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise SparkSetupError("pyspark is not installed", "run scripts/setup")
    return Path(spec.origin).parent


def spark_home(settings: Settings) -> Path:
    """A SPARK_HOME of symlinks to the pyspark package, under ``<home>/spark-home``.

    With it, local-cluster executors work in ``$SPARK_HOME/work`` instead of
    inside the installed package (DESIGN.md).
    """
    home = Path(settings.home) / "spark-home"
    home.mkdir(parents=True, exist_ok=True)
    package = pyspark_home()
    for part in ("bin", "jars", "python", "sbin"):
        link = home / part
        if not link.exists() and (package / part).exists():
            try:
                link.symlink_to(package / part)
            except FileExistsError:  # a job starting at the same time made it
                pass
    return home


def delta_conf(settings: Settings) -> dict[str, str]:
    """Settings that enable delta-spark: the jars and the SQL extension."""
    paths = [str(p) for p in jars.delta_jars(settings.jars_dir)]
    return {"spark.jars": ",".join(paths), **DELTA_CONF}


def base_conf(settings: Settings, profile: str) -> dict[str, str]:
    """Profile settings plus Delta and quiet logs: what every session and submit gets."""
    conf = load_profile(profile)
    conf.update(delta_conf(settings))
    java_opts = f"-Dlog4j2.configurationFile=file:{LOG4J_FILE}"
    for key in ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"):
        conf[key] = f"{conf[key]} {java_opts}" if key in conf else java_opts
    conf.setdefault("spark.ui.showConsoleProgress", "false")
    return conf


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
        from mlplatform import envs

        artifact = envs.resolve(env, settings)
        full.update(envs.spark_conf(artifact, settings, profile, full))
    if full["spark.master"].startswith("yarn"):
        from mlplatform import yarn

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
        from mlplatform import envs

        envs.preflight(spark, artifact)
    return spark


def _start_with_worker_python(builder: "SparkSession.Builder", python: str, env_id: str) -> "SparkSession":
    """Start the context with ``PYSPARK_PYTHON=python`` (read once, at start), then restore the variable."""
    from pyspark import SparkContext

    active = SparkContext._active_spark_context
    if active is not None and active.pythonExec != python:
        raise SparkSetupError(
            f"a SparkSession is already running with Python workers on {active.pythonExec}, so {env_id} cannot be applied",
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
    from mlplatform.envs.shipping import ENV_ID_CONF

    env_id = spark.conf.get(ENV_ID_CONF, None)
    key = f"{spark.sparkContext.applicationId}/{env_id}"
    if not env_id or key in _PREFLIGHT_DONE:
        return
    from mlplatform import envs

    envs.preflight(spark, envs.resolve(env_id, settings or load_settings()))
    _PREFLIGHT_DONE.add(key)
