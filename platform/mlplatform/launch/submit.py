"""Build the full spark-submit command line for a driver: the project's ``jobs/<name>.py`` or the platform's."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, NoReturn, Sequence

from mlplatform import envs
from mlplatform.config import Settings, project_root
from mlplatform.errors import SubmitError
from mlplatform.launch import yarn
from mlplatform.launch.cluster_mode import driver_conf, is_cluster_mode
from mlplatform.launch.command import SubmitCommand
from mlplatform.launch.java import find_java
from mlplatform.launch.profiles import base_conf, spark_home
from mlplatform.launch.zips import platform_zip

if TYPE_CHECKING:
    from mlplatform.envs import EnvArtifact

__all__ = ["SubmitCommand", "build_submit", "job_path", "platform_jobs_dir", "run_logged", "run_in_place"]

_FLAG_SETTINGS = {
    "spark.master": "--master",
    "spark.submit.deployMode": "--deploy-mode",
}


def platform_jobs_dir() -> Path:
    """The folder of the platform's own drivers: the installed ``mlplatform.jobs`` package (``jobs/`` of the repo)."""
    try:
        return Path(str(resources.files("mlplatform.jobs")))
    except ModuleNotFoundError:  # a source checkout on PYTHONPATH, not installed
        return Path(__file__).resolve().parents[3] / "jobs"


def _job_names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))


def job_path(job: str) -> Path:
    """The driver file of ``job``: an explicit ``.py`` path, else the project's ``jobs/<job>.py``, else the platform's.

    Raises:
        SubmitError: no such job; the message names where it looked and the known jobs.
    """
    candidate = Path(job)
    if candidate.suffix == ".py" and candidate.is_file():
        return candidate.resolve()
    project, platform = project_root() / "jobs", platform_jobs_dir().resolve()
    for folder in (project, platform):
        if not job.startswith("_") and (folder / f"{job}.py").is_file():
            return folder / f"{job}.py"
    where = f"{project}" if project == platform else f"{project} or the platform's {platform}"
    known = ", ".join(_job_names(platform)) or "none"
    if project != platform:
        known = f"project: {', '.join(_job_names(project)) or 'none'}; platform: {known}"
    raise SubmitError(
        f"job '{job}' not found in {where}",
        f"known jobs: {known}; pass one of them or a path to a driver .py file, or add {project / (job + '.py')}",
    )


def build_submit(
    settings: Settings,
    job: str,
    args: Sequence[str] = (),
    profile: str | None = None,
    extra_conf: Mapping[str, str] | None = None,
    app_name: str | None = None,
    env: "str | EnvArtifact | None" = None,
) -> SubmitCommand:
    """The spark-submit command for ``job`` under ``profile`` (default: the configured one).

    With ``env`` (``env:<name>@<hash12>``, a name or an ``EnvArtifact``) the archive is
    checked and shipped (``--archives <uri>#environment``) and executors run
    ``./environment/bin/python``; the driver runs a preflight check of it. In YARN
    cluster mode the driver gets the platform's driver env and the project's
    ``conf/`` and ``envs/`` (:mod:`mlplatform.launch.cluster_mode`).
    """
    profile = profile or settings.spark_profile
    driver = job_path(job)
    conf = base_conf(settings, profile)
    conf.update(extra_conf or {})
    if env is not None:
        conf.update(envs.spark_conf(env, conf, settings))
    yarn_env: dict[str, str] = {}
    if conf["spark.master"].startswith("yarn"):
        if is_cluster_mode(conf):
            conf.update(driver_conf(settings, conf, profile))

        yarn_env = yarn.prepare(settings, conf, profile)
    home = spark_home(settings)
    argv = [str(home / "bin" / "spark-submit")]
    for key, flag in _FLAG_SETTINGS.items():
        if key in conf:
            argv += [flag, conf.pop(key)]
    argv += ["--name", app_name or f"mlp-{driver.stem}"]
    jars = conf.pop("spark.jars", "")
    if jars:
        argv += ["--jars", jars]
    archives = conf.pop("spark.archives", "")
    if archives:
        argv += ["--archives", archives]
    argv += ["--py-files", str(platform_zip(Path(settings.home) / "dist"))]
    for key, value in sorted(conf.items()):
        argv += ["--conf", f"{key}={value}"]
    argv.append(str(driver))
    argv += list(args)
    env = {
        "JAVA_HOME": str(find_java().home),
        "SPARK_HOME": str(home),
        "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
        "MLP_SPARK_PROFILE": profile,
    }
    if settings.hadoop_conf_dir:
        env["HADOOP_CONF_DIR"] = settings.hadoop_conf_dir
    env.update(yarn_env)
    return SubmitCommand(argv=argv, env=env)


def run_logged(command: SubmitCommand, log_file: Path) -> int:
    """Run ``command`` with its output in ``log_file``; YARN applications are watched as by ``mlp submit``.

    Raises:
        HadoopError: a YARN application that was never scheduled or that failed.
    """
    with open(log_file, "w") as out:
        if yarn.is_yarn(command.argv):
            return yarn.run(command, output=out)
        return subprocess.run(command.argv, env=command.full_env(), stdout=out, stderr=subprocess.STDOUT).returncode


def run_in_place(command: SubmitCommand) -> NoReturn:
    """Become spark-submit (``exec``), or for YARN run it and watch the application; exit with its code.

    Raises:
        HadoopError: a YARN application that was never scheduled or that failed.
    """
    if yarn.is_yarn(command.argv):
        sys.exit(yarn.run(command))
    sys.stdout.flush()
    os.execve(command.argv[0], command.argv, command.full_env())
