"""Native thread pools of the model's libraries, capped to the cores Spark gave the task.

Spark runs one Python worker per task slot; a model library would otherwise start an
OpenMP/BLAS thread per core in each, and N workers x N threads on N cores more than halve
the throughput (the batch-scoring and tuning benchmarks in the README measure it). Runs on
executors and in the scoring image: standard library, plus threadpoolctl when the model's
environment has it (scikit-learn depends on it).

A cap reaches only the libraries loaded when it is set: callers import the model's code
first. Finding the loaded libraries takes ~4 ms, so the controller that knows them is kept
until a module is imported (the only way a worker loads another native library here).
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from typing import Any

__all__ = ["native_thread_limit"]

_controller: tuple[int, Any] | None = None  # (len(sys.modules) when made, threadpoolctl.ThreadpoolController)


def native_thread_limit(threads: int) -> Any:
    """A context manager capping the OpenMP/BLAS pools to ``threads`` (no-op without threadpoolctl)."""
    limit = max(1, int(threads))
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        try:
            from threadpoolctl import threadpool_limits  # threadpoolctl < 3
        except ImportError:
            return nullcontext()
        return threadpool_limits(limits=limit)
    global _controller
    if _controller is None or _controller[0] != len(sys.modules):
        _controller = (len(sys.modules), ThreadpoolController())
    return _controller[1].limit(limits=limit)
