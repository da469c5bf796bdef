"""A writer lock for Delta tables on the local file system.

Delta's commit protocol needs "create the log file ``N.json`` only if it does not
exist". HDFS gives that atomically (rename without overwrite), and so does delta-rs
on a local disk. delta-spark on a local disk does not: its ``HDFSLogStore``
checks that the file is absent and then renames, and makes the pair atomic only
with a ``synchronized`` block inside one JVM. Two Spark jobs (two JVMs), or Spark
and delta-rs, committing the same version at the same instant can silently lose
one commit.

So every write to a local table holds ``<table>/_mlp_commit.lock`` (``flock``) for the
duration of the write:

- across processes it is exclusive for Spark writers and shared among delta-rs writers;
- inside one process, writers of the same engine share it (Delta's JVM lock and
  delta-rs's atomic rename protect them from each other, and conflict detection
  still applies), while a Spark writer and a delta-rs writer exclude each other.

The kernel releases the lock when a process dies, so a killed job never leaves it
held. Remote tables (``hdfs://``) need no lock. Delta ignores files starting with
``_`` in the table folder (readers and VACUUM alike).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Literal

from mlplatform import files
from mlplatform.tables.locate import local_path

__all__ = ["commit_lock", "LOCK_FILE", "Engine"]

log = logging.getLogger(__name__)

LOCK_FILE = "_mlp_commit.lock"

Engine = Literal["spark", "deltalake"]


@dataclass
class _Holders:
    """In-process holders of one table's lock: which engine, how many, the open lock file."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    engine: Engine | None = None
    count: int = 0
    fd: int | None = None


_registry: dict[str, _Holders] = {}
_registry_lock = threading.Lock()


def _holders(path: str) -> _Holders:
    with _registry_lock:
        return _registry.setdefault(path, _Holders())


@contextmanager
def commit_lock(uri: str, engine: Engine) -> Iterator[None]:
    """Hold the writer lock of a local table while writing with ``engine``; no-op for remote tables."""
    folder = local_path(uri)
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = str(folder / LOCK_FILE)
    holders = _holders(lock_path)
    with holders.cond:
        while holders.count and holders.engine != engine:
            holders.cond.wait()
        if holders.count == 0:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                files.flock(
                    fd,
                    shared=engine != "spark",
                    on_wait=lambda: log.info("table %s: waiting for another process's write to finish", uri),
                )
            except BaseException:
                os.close(fd)
                raise
            holders.fd, holders.engine = fd, engine
        holders.count += 1
    try:
        yield
    finally:
        with holders.cond:
            holders.count -= 1
            if holders.count == 0 and holders.fd is not None:
                fcntl.flock(holders.fd, fcntl.LOCK_UN)
                os.close(holders.fd)
                holders.fd, holders.engine = None, None
                holders.cond.notify_all()
