"""Health checks behind ``mlp doctor``: each reports OK or what to do."""

from __future__ import annotations

import sys
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

from mlplatform.config import _config_file, load_settings
from mlplatform.errors import PlatformError
from mlplatform.launch import jars
from mlplatform.launch.java import find_java
from mlplatform.launch.profiles import load_profile

__all__ = ["Check", "run_checks"]


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def _python() -> Check:
    ok = sys.version_info >= (3, 10)
    return Check("python", ok, f"{sys.version.split()[0]} at {sys.executable}", "" if ok else "use Python 3.10+")


def _config() -> Check:

    source = _config_file(None)
    settings = load_settings()
    return Check("config", True, f"{source or 'embedded default'}; home {settings.home}")


def _java() -> Check:

    java = find_java()
    return Check("java", True, f"Java {java.version} from {java.source} ({java.home})")


def _spark() -> Check:

    settings = load_settings()
    profile = load_profile(settings.spark_profile)
    return Check(
        "spark",
        True,
        f"pyspark {metadata.version('pyspark')}; profile {settings.spark_profile} -> {profile['spark.master']}",
    )


def _delta() -> Check:

    settings = load_settings()
    found = jars.delta_jars(settings.jars_dir)
    return Check(
        "delta",
        True,
        f"delta-spark {jars.DELTA_VERSION} ({len(found)} jars in {found[0].parent}); "
        f"deltalake {metadata.version('deltalake')}",
    )


def _mlflow() -> Check:

    uri = load_settings().mlflow_tracking_uri or ""
    if uri.startswith("sqlite:///"):
        folder = Path(uri[len("sqlite:///") :]).parent
        writable = folder.exists() or folder.parent.exists() or not folder.is_file()
        return Check(
            "mlflow",
            writable,
            f"mlflow {metadata.version('mlflow')}; SQLite store {uri}",
            "" if writable else f"make {folder} writable",
        )
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=3) as resp:
                return Check("mlflow", resp.status == 200, f"tracking server {uri} answers")
        except OSError as exc:
            return Check(
                "mlflow", False, f"tracking server {uri} does not answer ({exc})", "start it or fix mlflow_tracking_uri"
            )
    return Check("mlflow", True, f"mlflow {metadata.version('mlflow')}; store {uri}")


CHECKS: list[Callable[[], Check]] = [_python, _config, _java, _spark, _delta, _mlflow]


def run_checks() -> list[Check]:
    """Run every check; a failing check becomes a not-OK result carrying its fix."""
    results = []
    for check in CHECKS:
        name = check.__name__.lstrip("_")
        try:
            results.append(check())
        except PlatformError as exc:
            results.append(Check(name, False, exc.message, exc.hint or ""))
        except metadata.PackageNotFoundError as exc:
            results.append(Check(name, False, f"package {exc} is not installed", "run scripts/setup"))
    return results
