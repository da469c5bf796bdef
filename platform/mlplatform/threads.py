"""Native thread pools of the model's libraries, capped to the cores Spark gave the task.

Spark runs one Python worker per task slot; a model library would otherwise start an
OpenMP/BLAS thread per core in each, and N workers x N threads on N cores more than halve
the throughput (the batch-scoring and tuning benchmarks in the README measure it). Runs on
executors and in the scoring image: standard library, plus threadpoolctl when the model's
environment has it (scikit-learn depends on it).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

__all__ = ["native_thread_limit"]


def native_thread_limit(threads: int) -> Any:
    """A context manager capping the OpenMP/BLAS pools to ``threads`` (no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(limits=max(1, int(threads)))
