"""Logging for the platform's entry points: the CLI, the spark-submit drivers, the nightly runners."""

from __future__ import annotations

import logging
import sys

__all__ = ["setup", "JOB_FORMAT"]

JOB_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log every request or step at INFO.
_NOISY = ("py4j", "alembic", "urllib3", "mlflow", "matplotlib", "hdfs")


def setup(fmt: str = JOB_FORMAT, level: int = logging.INFO) -> None:
    """Log to stderr in ``fmt``; the noisy libraries only from WARNING up."""
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
