"""The one way a spark-submit driver in ``jobs/`` runs: logging, exit codes, ``--summary``, Spark stopped.

A driver parses its arguments and hands one callable to :func:`run`::

    return jobrun.run("score", lambda: run_scoring_job(args.model, args.input), summary=args.summary)

The callable returns a :class:`JobResult`, an outcome with a ``lines()`` method (logged,
and its fields in the summary when it is a dataclass), or None. A
:class:`~mlplatform.errors.PlatformError` becomes its one-line message at ERROR and its
``exit_code``; any other exception keeps its traceback. Whatever happens, the active
SparkSession is stopped before :func:`run` returns.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence, Union, runtime_checkable

from mlplatform import logconf
from mlplatform.errors import EXIT_ERROR, EXIT_OK, PlatformError

__all__ = ["JobResult", "Reportable", "run", "stop_spark", "write_json"]


@runtime_checkable
class Reportable(Protocol):
    """An outcome that reports itself in log lines (e.g. :class:`~mlplatform.lifecycle.retrain.RetrainOutcome`)."""

    def lines(self) -> list[str]: ...


@dataclass(frozen=True)
class JobResult:
    """What a job did: lines for its log, keys for its ``--summary``, lines for stdout, its exit code."""

    lines: Sequence[str] = ()
    summary: Mapping[str, Any] = field(default_factory=dict)
    stdout: Sequence[str] = ()
    exit_code: int = EXIT_OK


JobReturn = Union[JobResult, Reportable, None]


def _as_result(value: JobReturn) -> JobResult:
    if value is None or isinstance(value, JobResult):
        return value or JobResult()
    summary = asdict(value) if is_dataclass(value) and not isinstance(value, type) else {}
    return JobResult(lines=value.lines(), summary=summary)


def write_json(path: str | None, payload: Mapping[str, Any], indent: int | None = None, sort_keys: bool = True) -> None:
    """Write ``payload`` as JSON to ``path`` (nothing without a path); values JSON lacks become strings."""
    if path:
        with open(path, "w") as fh:
            json.dump(payload, fh, sort_keys=sort_keys, default=str, indent=indent)


def stop_spark(log: logging.Logger | None = None) -> None:
    """Stop the active SparkSession, if pyspark was imported at all and a session is running."""
    sql = sys.modules.get("pyspark.sql")
    if sql is None:
        return
    spark = sql.SparkSession.getActiveSession()
    if spark is None:
        return
    try:
        spark.stop()
    except Exception as exc:  # noqa: BLE001 - a dead JVM must not hide the job's own outcome
        (log or logging.getLogger(__name__)).warning("stopping the SparkSession failed: %s", exc)


def run(name: str, job: Callable[[], JobReturn], summary: str | None = None) -> int:
    """Run ``job`` as the driver ``name``; the process exit code.

    Args:
        name: the job's name (its logger is ``mlp.jobs.<name>``).
        job: the one library call the driver makes.
        summary: write ``{"ok": true, ...}`` (the result's summary keys) or
            ``{"ok": false, "error": ..., "exit_code": ...}`` here as JSON.
    """
    logconf.setup()
    log = logging.getLogger(f"mlp.jobs.{name}")
    try:
        try:
            result = _as_result(job())
        finally:
            stop_spark(log)
    except PlatformError as exc:
        log.error("%s", exc.render())
        write_json(summary, {"ok": False, "error": exc.render(), "exit_code": exc.exit_code})
        return exc.exit_code
    except Exception as exc:
        write_json(summary, {"ok": False, "error": f"{type(exc).__name__}: {exc}", "exit_code": EXIT_ERROR})
        raise
    for line in result.lines:
        log.info("%s", line)
    write_json(summary, {"ok": result.exit_code == EXIT_OK, **result.summary})
    if result.stdout:
        sys.stdout.write("".join(f"{line}\n" for line in result.stdout))
        sys.stdout.flush()
    return result.exit_code
