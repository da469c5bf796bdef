"""How many Spark tasks a session can run at once, read from its conf.

``local[N]`` runs N tasks at a time, ``local-cluster[W, C, M]`` W x C; on a cluster it is
executors x ``spark.executor.cores``, all divided by ``spark.task.cpus``. A session with
dynamic allocation and no ``spark.dynamicAllocation.maxExecutors`` can grow without a
bound the conf names: :func:`task_slots` is None then.
"""

from __future__ import annotations

import os
import re
from typing import Mapping

__all__ = ["task_slots"]

_LOCAL = re.compile(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?$")
_LOCAL_CLUSTER = re.compile(r"local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,\s*\d+\s*\]$")
_UNBOUNDED = 2**31 - 1  # Spark's default maxExecutors (Int.MaxValue)


def _int(conf: Mapping[str, str], key: str, default: int) -> int:
    value = conf.get(key)
    return int(value) if value not in (None, "") else default


def task_slots(conf: Mapping[str, str]) -> int | None:
    """Tasks the session can run at once; None when dynamic allocation has no upper bound."""
    master = conf.get("spark.master", "local[*]").strip()
    task_cpus = max(_int(conf, "spark.task.cpus", 1), 1)
    local = _LOCAL.match(master)
    if local:
        cores = local.group(1)
        threads = 1 if cores is None else (os.cpu_count() or 1) if cores == "*" else int(cores)
        return max(threads // task_cpus, 1)
    cluster = _LOCAL_CLUSTER.match(master)
    if cluster:
        workers, cores = int(cluster.group(1)), int(cluster.group(2))
    else:
        cores = _int(conf, "spark.executor.cores", 1)
        if conf.get("spark.dynamicAllocation.enabled", "false").lower() == "true":
            workers = _int(conf, "spark.dynamicAllocation.maxExecutors", _UNBOUNDED)
            if workers >= _UNBOUNDED:
                return None
        else:
            workers = _int(conf, "spark.executor.instances", 2)
    return max(workers * cores // task_cpus, 1)
