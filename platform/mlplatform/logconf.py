"""Logging for the platform's entry points: the CLI, the spark-submit drivers, the nightly runners."""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["setup", "JOB_FORMAT"]

JOB_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log every request or step at INFO.
_NOISY = ("py4j", "alembic", "urllib3", "mlflow", "matplotlib", "hdfs")
# MLflow draws a tqdm bar ("Downloading artifacts") for every model it downloads: in a log
# file each redraw is a \r-joined line. Read at each download, and inherited by the
# spark-submit and job processes the entry points start.
_NO_PROGRESS_BARS = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def setup(fmt: str = JOB_FORMAT, level: int = logging.INFO) -> None:
    """Log to stderr in ``fmt``; the noisy libraries only from WARNING up; no progress bars.

    A progress-bar variable already set in the environment is left as it is.
    """
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name, value in _NO_PROGRESS_BARS.items():
        os.environ.setdefault(name, value)
