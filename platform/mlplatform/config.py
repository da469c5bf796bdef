"""Platform settings: embedded defaults < config file < ``MLP_*`` environment variables.

With no configuration at all everything lives under ``./.mlp/`` of the project
directory (the current directory, or ``MLP_PROJECT``): the Delta warehouse, the
artifact store, the MLflow SQLite store and the fetched jars.

The config file is ``--conf FILE`` on the CLI, else ``MLP_CONF``, else
``<project>/conf/platform.yaml`` when it exists. Relative paths in it are
resolved against the project directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import Field, ValidationError, field_validator

from mlplatform.errors import ConfigError
from mlplatform.specfiles import StrictModel, problems, read_mapping

__all__ = ["Settings", "load_settings", "project_root", "conf_dir", "ENV_PREFIX"]

ENV_PREFIX = "MLP_"
_META_VARS = {"MLP_CONF", "MLP_PROJECT"}
_OCTAL_MODE = re.compile(r"0?[0-7]{3}")


class Settings(StrictModel):
    """What the platform needs to know about where things live.

    Every ``None`` default is filled by :func:`load_settings` from ``home``.
    """

    home: str = Field(".mlp", description="Root of the embedded default (local files).")
    warehouse: str | None = Field(None, description="Root of the Delta tables (path or hdfs:// URI).")
    artifacts: str | None = Field(None, description="Root of published artifacts such as env archives.")
    mlflow_tracking_uri: str | None = Field(None, description="MLflow tracking store URI.")
    mlflow_artifact_root: str | None = Field(None, description="Where MLflow stores run artifacts.")
    spark_profile: str = Field("local", description="Name of a profile file in conf/spark/.")
    hdfs_namenode: str | None = Field(None, description="hdfs://host:port of the NameNode.")
    webhdfs_url: str | None = Field(None, description="http://host:port of WebHDFS, for publishing.")
    hdfs_user: str | None = Field(
        None, description="User name for WebHDFS requests (default: the authenticated user, identity.current_actor)."
    )
    hdfs_group: str | None = Field(
        None,
        description="HDFS group given to the tables and artifacts the platform creates on hdfs:// "
        "(whether the group exists and the creator may use it is for HDFS to decide).",
    )
    hdfs_mode: str | None = Field(
        None,
        description="Octal mode of those directories, e.g. '775' (files get it without execute bits: 664; "
        "Spark writes with the matching umask).",
    )
    hadoop_conf_dir: str | None = Field(None, description="HADOOP_CONF_DIR for the yarn profile.")
    jars_dir: str | None = Field(None, description="Where setup puts the Delta jars (shared cache).")
    code_version: str | None = Field(None, description="Code version recorded with models (default: git HEAD).")
    signing_key: str | None = Field(None, description="Ed25519 private key (PEM) that signs published artifacts.")
    trusted_keys: str | None = Field(None, description="Trust file of public keys: keys: {NAME: PEM}.")
    verify: Literal["enforce", "warn", "off"] | None = Field(
        None, description="Check signatures before loading (default: enforce with trusted_keys, else off)."
    )

    @field_validator("hdfs_mode", mode="before")
    @classmethod
    def _octal_mode(cls, value: object) -> object:
        if value is not None and not (isinstance(value, str) and _OCTAL_MODE.fullmatch(value)):
            raise ValueError(
                f"{value!r} is not a 3-digit octal mode as a string (YAML reads 0775 unquoted as the number 509); "
                "write it quoted, e.g. hdfs_mode: '775'"
            )
        return value

    def public(self) -> dict[str, Any]:
        """The settings in effect, for display."""
        return self.model_dump()


def project_root() -> Path:
    """The project directory: ``MLP_PROJECT`` or the current directory."""
    return Path(os.environ.get("MLP_PROJECT") or os.getcwd()).resolve()


def conf_dir() -> Path:
    """The ``conf/`` folder of the project."""
    return project_root() / "conf"


def _config_file(explicit: str | os.PathLike[str] | None) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist", "pass an existing file to --conf / MLP_CONF")
        return path
    env = os.environ.get("MLP_CONF")
    if env:
        return _config_file(env)
    default = conf_dir() / "platform.yaml"
    return default if default.is_file() else None


def _env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    known = set(Settings.model_fields)
    out: dict[str, str] = {}
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX) or var in _META_VARS:
            continue
        key = var[len(ENV_PREFIX) :].lower()
        if key in known:
            out[key] = value
    return out


def _describe(exc: ValidationError, source: str) -> ConfigError:
    known = ", ".join(sorted(Settings.model_fields))
    return ConfigError(f"{source}: {problems(exc)}", f"known keys are: {known}")


def _absolute(value: str, root: Path) -> str:
    if "://" in value or value.startswith("sqlite:"):
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (root / path).resolve())


def load_settings(conf: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load the settings in effect.

    Args:
        conf: an explicit config file (``mlp --conf``); else ``MLP_CONF`` or ``conf/platform.yaml``.
        environ: environment to read ``MLP_*`` overrides from (default ``os.environ``).

    Raises:
        ConfigError: naming the file and key when a key is unknown or has the wrong type.
    """
    environ = os.environ if environ is None else environ
    root = project_root()
    path = _config_file(conf)
    values: dict[str, Any] = read_mapping(path, ConfigError, "config file") if path else {}
    try:
        Settings(**values)
    except ValidationError as exc:
        raise _describe(exc, str(path)) from exc
    values.update(_env_overrides(environ))
    try:
        raw = Settings(**values)
    except ValidationError as exc:
        raise _describe(exc, "MLP_* environment variables") from exc
    home = _absolute(raw.home, root)
    filled = {
        "home": home,
        "warehouse": _absolute(raw.warehouse or f"{home}/warehouse", root),
        "artifacts": _absolute(raw.artifacts or f"{home}/artifacts", root),
        "mlflow_tracking_uri": raw.mlflow_tracking_uri or f"sqlite:///{home}/mlflow.db",
        "mlflow_artifact_root": _absolute(raw.mlflow_artifact_root or f"{home}/mlruns", root),
        "jars_dir": _absolute(raw.jars_dir or str(root / ".mlp" / "jars"), root),
        "hadoop_conf_dir": _absolute(raw.hadoop_conf_dir, root) if raw.hadoop_conf_dir else None,
        "signing_key": _absolute(raw.signing_key, root) if raw.signing_key else None,
        "trusted_keys": _absolute(raw.trusted_keys, root) if raw.trusted_keys else None,
    }
    return raw.model_copy(update=filled)
