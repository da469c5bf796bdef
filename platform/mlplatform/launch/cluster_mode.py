"""What a job's driver needs when YARN runs it (``spark.submit.deployMode=cluster``).

In client mode the driver is the ``mlp submit`` process's machine: its virtualenv,
its project folder, its ``MLP_*`` variables. In cluster mode the driver starts in a
YARN container on some node, with none of these. :func:`driver_conf` sends them:

- the platform's driver environment (:mod:`mlplatform.envs.platform_env`) as a second
  archive, ``./mlp-driver``, whose Python runs the driver; executors keep the model's
  ``./environment`` (``--env``), or run ``./mlp-driver`` too when no env is given;
- the project's ``conf/`` and ``envs/`` folders as a zip, unpacked as
  ``./mlp-project`` and named by ``MLP_PROJECT`` (model specs, feature definitions,
  lifecycle gates);
- the settings in effect here, resolved, as ``MLP_*`` variables of the application
  master, with ``MLP_HOME`` inside the container, the submitted profile, and the code
  version fixed now (the container has no git checkout).

Local paths in the settings (the embedded default) work only when every node sees
this machine's disk, as on the one-machine Hadoop; a warning names them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

from mlplatform.config import ENV_PREFIX, Settings, project_root
from mlplatform.envs.platform_env import driver_env
from mlplatform.envs.shipping import spark_uri
from mlplatform.launch.zips import content_zip
from mlplatform.tracking.store import code_version

__all__ = ["is_cluster_mode", "driver_conf", "DRIVER_PYTHON", "PROJECT_DIRS"]

log = logging.getLogger(__name__)

DRIVER_PYTHON = "./mlp-driver/bin/python"
PROJECT_DIRS = ("conf", "envs")
_AM_ENV = "spark.yarn.appMasterEnv."
# Settings that only make sense on the submitting machine.
_NOT_FORWARDED = {"home", "hadoop_conf_dir", "jars_dir"}
# Settings that name storage the driver must reach.
_LOCATIONS = ("warehouse", "artifacts", "mlflow_tracking_uri", "mlflow_artifact_root")


def is_cluster_mode(conf: Mapping[str, str]) -> bool:
    """YARN runs the driver: ``spark.master yarn`` with ``spark.submit.deployMode cluster``."""
    return str(conf.get("spark.master", "")).startswith("yarn") and conf.get("spark.submit.deployMode") == "cluster"


def _project_zip(settings: Settings) -> Path:
    root = project_root()
    files = [
        p
        for d in PROJECT_DIRS
        for p in sorted((root / d).rglob("*"))
        if p.is_file()
        and "__pycache__" not in p.parts
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return content_zip(files, root, Path(settings.home) / "dist", "mlp-project")


def _local_locations(settings: Settings) -> list[str]:
    values = settings.model_dump()
    return [
        f"{key}={values[key]}"
        for key in _LOCATIONS
        if values[key]
        and (str(values[key]).startswith("sqlite:") or ("://" not in values[key] or values[key].startswith("file:")))
    ]


def driver_conf(settings: Settings, conf: Mapping[str, str], profile: str) -> dict[str, str]:
    """Spark settings that let YARN run the driver: driver env, project files, settings.

    Raises:
        EnvError: the driver environment cannot be built or published.
    """

    artifact = driver_env(settings)
    archives = [a for a in conf.get("spark.archives", "").split(",") if a]
    archives += [f"{spark_uri(artifact.uri)}#mlp-driver", f"file://{_project_zip(settings)}#mlp-project"]
    out = {
        "spark.archives": ",".join(archives),
        "spark.pyspark.driver.python": DRIVER_PYTHON,
        f"{_AM_ENV}PYSPARK_DRIVER_PYTHON": DRIVER_PYTHON,
    }
    if "spark.pyspark.python" not in conf:
        out["spark.pyspark.python"] = DRIVER_PYTHON
        out[f"{_AM_ENV}PYSPARK_PYTHON"] = DRIVER_PYTHON
    forwarded = {k: v for k, v in settings.model_dump().items() if v is not None and k not in _NOT_FORWARDED}
    forwarded.update(code_version=code_version(settings), spark_profile=profile)
    for key, value in sorted(forwarded.items()):
        out[f"{_AM_ENV}{ENV_PREFIX}{key.upper()}"] = str(value)
    out[f"{_AM_ENV}MLP_PROJECT"] = "{{PWD}}/mlp-project"
    out[f"{_AM_ENV}MLP_HOME"] = "{{PWD}}/.mlp"
    local = _local_locations(settings)
    if local:
        log.warning(
            "cluster deploy mode: the driver runs on a cluster node and reads %s; these are paths on this "
            "machine, which only a one-machine cluster shares (use hdfs:// and an MLflow server elsewhere)",
            ", ".join(local),
        )
    return out
