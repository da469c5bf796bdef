"""Spark profiles (``conf/spark/*.conf``) and the Spark distribution every launch uses.

A profile is a ``spark-defaults.conf``-style file: one ``key value`` per line,
``#`` for comments. ``local`` runs ``local[*]`` in one JVM, ``local-cluster``
starts separate executor JVMs, ``yarn`` submits to the cluster named by
``HADOOP_CONF_DIR``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from mlplatform.config import Settings, conf_dir
from mlplatform.errors import SparkSetupError
from mlplatform.launch import jars

__all__ = ["load_profile", "profile_names", "spark_home", "pyspark_home", "delta_conf", "base_conf", "LOG4J_FILE"]

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
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise SparkSetupError("pyspark is not installed", "run scripts/setup")
    return Path(spec.origin).parent


def spark_home(settings: Settings) -> Path:
    """A SPARK_HOME of symlinks to the pyspark package, under ``<home>/spark-home``.

    With it, local-cluster executors work in ``$SPARK_HOME/work`` instead of
    inside the installed package (docs/architecture.md).
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
    """Profile settings plus Delta and quiet logs: what every session and submit gets.

    Every JVM reads :data:`LOG4J_FILE` by its path where it sees this machine's disk, else
    as ``log4j2.properties`` from its classpath: the file's folder is on the driver's
    classpath, so in client mode Spark's YARN client ships the file in ``__spark_conf__.zip``,
    which is on the classpath of the application master and executors on every node.
    """
    conf = load_profile(profile)
    conf.update(delta_conf(settings))
    java_opts = f"-Dlog4j2.configurationFile=file:{LOG4J_FILE},{LOG4J_FILE.name}"
    for key in ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"):
        conf[key] = f"{conf[key]} {java_opts}" if key in conf else java_opts
    key = "spark.driver.extraClassPath"
    conf[key] = f"{conf[key]}{os.pathsep}{LOG4J_FILE.parent}" if key in conf else str(LOG4J_FILE.parent)
    conf.setdefault("spark.ui.showConsoleProgress", "false")
    if settings.hdfs_mode is not None:
        # what Spark creates on HDFS gets hdfs_mode (folders) and its files the mode without execute bits
        conf.setdefault("spark.hadoop.fs.permissions.umask-mode", f"{0o777 & ~int(settings.hdfs_mode, 8):03o}")
    return conf
