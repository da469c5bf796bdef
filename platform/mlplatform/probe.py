"""Ask every executor which Python it runs and which package versions it sees.

``report_from`` runs on executors inside the model's environment, so it imports
only the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Sequence

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["executor_report", "report_from"]


def report_from(packages: Sequence[str]) -> dict[str, object]:
    """What this process runs: interpreter, working directory, host, package versions."""
    import os
    import platform
    import socket
    import sys
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "executable": sys.executable,
        "prefix": sys.prefix,
        # a venv's base_prefix is the interpreter it links to; an env that carries its Python has none
        "base_prefix": sys.base_prefix,
        "python": platform.python_version(),
        "cwd": os.getcwd(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "packages": versions,
    }


def executor_report(
    spark: "SparkSession", packages: Sequence[str] = (), tasks: int | None = None
) -> list[dict[str, object]]:
    """One report per task, from as many tasks as the default parallelism (or ``tasks``)."""
    sc = spark.sparkContext
    n = tasks or sc.defaultParallelism
    wanted = list(packages)

    def run(_: Iterator[int]) -> Iterator[dict[str, object]]:
        yield report_from(wanted)

    return sc.parallelize(range(n), n).mapPartitions(run).collect()
