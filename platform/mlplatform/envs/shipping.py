"""Ship an environment with a Spark job and check it on the executors.

- Cluster masters (``local-cluster``, ``yarn``, ...): the archive goes with the job
  (``spark.archives=<uri>#environment``), executors run ``./environment/bin/python``
  in their working directory. In YARN cluster mode the driver itself runs the
  platform's driver env (:mod:`mlplatform.launch.cluster_mode`), not this one.
- ``local[*]``: there are no separate executors, so Python workers run a locally
  unpacked copy of the same archive (``<home>/envs/local/<name>-<hash12>``).

:func:`preflight` runs one small task per core before the real work and fails with
an :class:`EnvError` that says what to do when the archive cannot run there.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from mlplatform import storage
from mlplatform.config import Settings, load_settings
from mlplatform.envs.artifacts import ARCHIVE_PYTHON, EnvArtifact, resolve, unpack, verify_archive
from mlplatform.envs.spec import arrow_requirements
from mlplatform.errors import EnvError, error_line
from mlplatform.probe import executor_report

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["spark_conf", "spark_uri", "preflight", "ENV_ID_CONF", "ARCHIVE_PYTHON", "is_local_master"]

log = logging.getLogger(__name__)

ENV_ID_CONF = "spark.mlplatform.env.id"


def is_local_master(master: str) -> bool:
    """``local`` / ``local[N]``: one JVM, no executor working directories."""
    return master == "local" or master.startswith("local[")


def spark_uri(uri: str) -> str:
    """A storage URI as Spark takes it: local paths as ``file://``."""
    return f"file://{storage.local_path(uri)}" if storage.is_local(uri) else uri


def _check_driver_python(artifact: EnvArtifact) -> None:
    driver = f"{sys.version_info.major}.{sys.version_info.minor}"
    env_minor = ".".join(artifact.python_version.split(".")[:2])
    if env_minor != driver:
        raise EnvError(
            f"{artifact.id} runs Python {artifact.python_version} but this driver runs Python {driver}; "
            "PySpark needs the same minor version on the driver and the executors",
            f'run mlp with Python {env_minor}, or build the env with python: "{driver}"',
        )


def spark_conf(
    artifact: "EnvArtifact | str",
    conf: Mapping[str, str],
    settings: Settings | None = None,
) -> dict[str, str]:
    """Spark settings that make a job's Python workers run in ``artifact``.

    Args:
        artifact: an :class:`EnvArtifact` or a reference for :func:`resolve`.
        conf: the job's Spark settings so far (profile plus overrides): its master and
            deploy mode decide how the env is shipped, its ``spark.archives`` are kept.
        settings: platform settings (default: :func:`load_settings`).

    The archive is checked first (exists, sha256 matches the manifest).

    Raises:
        EnvError: archive missing or corrupt, or Python minor version differs from the driver's.
    """
    settings = settings or load_settings()
    artifact = resolve(artifact, settings)
    master = conf["spark.master"]
    cluster_mode = conf.get("spark.submit.deployMode", "client") == "cluster"
    verify_archive(artifact, settings)
    # In YARN cluster mode the driver runs the platform's driver env, built with this Python.
    _check_driver_python(artifact)
    out = {ENV_ID_CONF: artifact.id}
    if not cluster_mode:
        # spark-submit would otherwise start the driver with spark.pyspark.python too.
        out["spark.pyspark.driver.python"] = sys.executable
    if artifact.carries_interpreter:
        # A venv ignores the node user's ~/.local site-packages; an env with its own Python must be told to.
        out["spark.executorEnv.PYTHONNOUSERSITE"] = "1"
    if is_local_master(master):
        out["spark.pyspark.python"] = str(unpack(artifact, settings) / "bin" / "python")
        return out
    archive = f"{spark_uri(artifact.uri)}#environment"
    out["spark.archives"] = ",".join(a for a in (conf.get("spark.archives"), archive) if a)
    out["spark.pyspark.python"] = ARCHIVE_PYTHON
    if master.startswith("yarn"):
        out["spark.yarn.appMasterEnv.PYSPARK_PYTHON"] = ARCHIVE_PYTHON
    return out


def _key_packages(artifact: EnvArtifact) -> list[str]:
    wanted = set(artifact.manifest.get("key_packages", []))
    wanted |= {req.name.lower() for req in arrow_requirements()}
    return sorted(name for name in wanted if name in artifact.packages)


def _explain(exc: Exception, artifact: EnvArtifact) -> EnvError:
    text = str(exc)
    cause = error_line(exc, "Cannot run program|PYTHON_VERSION_MISMATCH")
    base = artifact.base_interpreter
    if base and ("Cannot run program" in text or "error=2" in text or "No such file" in text):
        return EnvError(
            f"{artifact.id} cannot start Python on the executors ({cause[:300]}): its venv archive links to the base "
            f"interpreter {base}, which must exist at that path on every node",
            f"install Python {artifact.python_version} at {base} on the nodes, or rebuild the env with "
            "builder: portable (the archive then carries its interpreter)",
        )
    return EnvError(
        f"{artifact.id} failed its preflight task on the executors: {cause[:500]}",
        "check the executor logs; run 'mlp submit --env ID probe' to see what the executors run",
    )


def preflight(spark: "SparkSession", artifact: "EnvArtifact | str") -> None:
    """Run a task per core and check the interpreter and key package versions against the manifest.

    Raises:
        EnvError: Python cannot start from the archive (e.g. the venv's base
            interpreter is missing on a node), or it reports another Python
            version, prefix or package version than the environment's lock.
    """

    artifact = resolve(artifact)
    sc = spark.sparkContext
    packages = _key_packages(artifact)
    try:
        reports = executor_report(spark, packages, tasks=max(2, sc.defaultParallelism))
    except Exception as exc:
        raise _explain(exc, artifact) from exc
    worker_python = sc.pythonExec
    problems: set[str] = set()
    for report in reports:
        prefix = Path(str(report["prefix"]))
        where = f"{report['host']}:{report['cwd']}"
        if worker_python == ARCHIVE_PYTHON and prefix.name != "environment":
            problems.add(f"{where} runs {report['executable']}, not the shipped ./environment")
        elif worker_python != ARCHIVE_PYTHON and prefix != Path(worker_python).parent.parent:
            problems.add(f"{where} runs {report['executable']}, not {worker_python}")
        if report["python"] != artifact.python_version:
            problems.add(f"{where} runs Python {report['python']}, the env has {artifact.python_version}")
        versions = report["packages"] if isinstance(report["packages"], dict) else {}
        for name in packages:
            if versions.get(name) != artifact.packages[name]:
                problems.add(f"{where} has {name} {versions.get(name)}, the lock has {artifact.packages[name]}")
    if problems:
        raise EnvError(
            f"{artifact.id} failed its preflight on the executors: " + "; ".join(sorted(problems)),
            "check spark.archives / spark.pyspark.python of the job (mlp submit --print shows them)",
        )
    hosts = sorted({f"{r['host']}:{r['pid']}" for r in reports})
    log.info("preflight of %s passed on %d Python workers (%s)", artifact.id, len(hosts), ", ".join(packages))
