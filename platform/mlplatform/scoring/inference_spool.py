"""The inference log's writer: sampled requests and responses appended to a local spool by each worker.

Image-side: standard library only (the frame it is given is encoded with pandas' own
methods), copied into the build context as ``mlp_inference_spool.py`` next to the server.

- **Sampling** (``MLP_LOG_SAMPLE``, a fraction 0..1, default 0 = off): each scored request
  is kept with that probability. The request thread only draws the number and puts the
  request on a bounded queue (``MLP_LOG_QUEUE``, default 1000); a daemon thread of the worker
  encodes and writes. A full queue drops the request.
- **Records**: one JSON line per request: ``request_id``, ``model``, ``model_version``,
  ``timestamp`` (UTC, ISO-8601), ``latency_seconds``, ``inputs`` (the checked input rows,
  ``{"columns": [...], "data": [[...], ...]}``, which ``/invocations`` accepts back as
  ``dataframe_split``) and ``predictions``.
- **Files**: each worker appends to its own
  ``<MLP_LOG_DIR>/<model>-v<version>-<host>-<pid>-<UTC time>-<token>.jsonl.open`` and
  *rotates* it — closes it and renames it to ``.jsonl`` — once it holds
  ``MLP_LOG_ROTATE_BYTES`` (default 64 MiB) or is ``MLP_LOG_ROTATE_SECONDS`` old (default 60),
  and when the worker exits. The gunicorn master rotates the open file of a worker that died
  (:func:`close_orphans`, from ``gunicorn.conf.py``). Only ``.jsonl`` files are complete and
  never written again: ingestion (``mlp monitor ingest``) reads nothing else, so it never
  takes half a file; a worker killed mid-write may leave a truncated last line, which
  ingestion skips.
- **Failures never fail a request**: a spool that cannot be created, written (full disk,
  permissions) or kept up with counts the request in ``mlp_inference_log_errors_total``
  (reason ``write`` or ``queue_full``) and drops it; the next request tries again.

``MLP_LOG_DIR`` defaults to ``<temp dir>/mlp-inference-log``; give each model its own folder.
"""

from __future__ import annotations

import atexit
import glob
import json
import logging
import os
import queue
import random
import re
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

__all__ = ["Spool", "OPEN_SUFFIX", "CLOSED_SUFFIX", "close_orphans", "spool_dir"]

log = logging.getLogger("mlp.scoring.inference_log")

OPEN_SUFFIX = ".jsonl.open"
CLOSED_SUFFIX = ".jsonl"
DEFAULT_ROTATE_BYTES = 64 * 1024 * 1024
DEFAULT_ROTATE_SECONDS = 60.0
_WARN_EVERY_SECONDS = 60.0


def spool_dir() -> str:
    """The spool folder: ``MLP_LOG_DIR``, else ``<temp dir>/mlp-inference-log``."""
    import tempfile

    return os.environ.get("MLP_LOG_DIR") or os.path.join(tempfile.gettempdir(), "mlp-inference-log")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "_", text)


def _split(frame: Any) -> dict[str, Any]:
    """The rows of a pandas frame as ``dataframe_split`` with nulls as None."""
    cells = frame.astype(object).where(frame.notna(), None)
    return {"columns": [str(c) for c in frame.columns], "data": cells.to_numpy().tolist()}


class Spool:
    """One worker's inference log writer.

    Args:
        directory: the spool folder (created when missing).
        model, version: the served model, written into every record and file name.
        sample: the fraction of scored requests kept.
        count: ``count(name, reason=None)`` adds one to a metrics counter.
        encode: the ``default=`` of :func:`json.dumps` for values JSON lacks (numpy, timestamps, bytes).
    """

    def __init__(
        self,
        directory: str,
        model: str,
        version: int,
        sample: float,
        count: Callable[..., None],
        encode: Callable[[Any], Any],
        rotate_bytes: int = DEFAULT_ROTATE_BYTES,
        rotate_seconds: float = DEFAULT_ROTATE_SECONDS,
        queue_size: int = 1000,
    ) -> None:
        self.directory = directory
        self.model = model
        self.version = version
        self.sample = min(max(sample, 0.0), 1.0)
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self._count = count
        self._encode = encode
        self._queue_size = queue_size
        self._host = _safe(socket.gethostname())
        self._pid = -1
        self._lock = threading.Lock()
        self._last_warning = 0.0

    @classmethod
    def from_env(
        cls, model: str, version: int, count: Callable[..., None], encode: Callable[[Any], Any]
    ) -> "Spool | None":
        """The spool ``MLP_LOG_*`` describe; None when ``MLP_LOG_SAMPLE`` is unset or 0."""
        text = os.environ.get("MLP_LOG_SAMPLE", "").strip()
        try:
            sample = float(text) if text else 0.0
        except ValueError:
            log.warning("MLP_LOG_SAMPLE=%r is not a number between 0 and 1: the inference log is off", text)
            return None
        if not sample > 0:
            return None
        spool = cls(
            spool_dir(),
            model,
            version,
            sample,
            count,
            encode,
            rotate_bytes=int(os.environ.get("MLP_LOG_ROTATE_BYTES") or DEFAULT_ROTATE_BYTES),
            rotate_seconds=float(os.environ.get("MLP_LOG_ROTATE_SECONDS") or DEFAULT_ROTATE_SECONDS),
            queue_size=int(os.environ.get("MLP_LOG_QUEUE") or 1000),
        )
        log.info("inference log: %.3g of the requests to %s", spool.sample, spool.directory)
        return spool

    # ------------------------------------------------------------------ request path

    def offer(self, request_id: str, started: float, latency: float, frame: Any, predictions: Any) -> None:
        """Keep this request with probability ``sample``: queued for the writer thread, never blocking."""
        if self.sample < 1.0 and random.random() >= self.sample:
            return
        self._own()
        try:
            self._queue.put_nowait((request_id, started, latency, frame, predictions))
        except queue.Full:
            self._failed("queue_full", "the writer is behind (MLP_LOG_QUEUE full)")

    # ------------------------------------------------------------------ writer thread

    def _own(self) -> None:
        """Start this process's writer (after a fork, the parent's thread and file are not ours)."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._queue: queue.Queue[Any] = queue.Queue(self._queue_size)
            self._handle: Any = None
            self._path = ""
            self._opened = 0.0
            threading.Thread(target=self._run, name="mlp-inference-log", daemon=True).start()
            atexit.register(self._drain_and_close)

    def _run(self) -> None:
        while True:
            wait = None
            if self._handle is not None:
                wait = max(0.0, self._opened + self.rotate_seconds - time.monotonic())
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                with self._lock:
                    self._rotate()
                continue
            with self._lock:
                self._write(item)

    def _line(self, item: tuple[Any, ...]) -> bytes:
        request_id, started, latency, frame, predictions = item
        record = {
            "request_id": request_id,
            "model": self.model,
            "model_version": self.version,
            "timestamp": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="microseconds"),
            "latency_seconds": latency,
            "inputs": _split(frame),
            "predictions": predictions,
        }
        return (json.dumps(record, default=self._encode, allow_nan=False) + "\n").encode()

    def _write(self, item: tuple[Any, ...]) -> None:
        try:
            line = self._line(item)
        except (TypeError, ValueError) as exc:
            self._failed("encode", f"request {item[0]} cannot be written as JSON: {exc}")
            return
        try:
            if self._handle is None:
                os.makedirs(self.directory, exist_ok=True)
                stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
                name = f"{_safe(self.model)}-v{self.version}-{self._host}-{self._pid}-{stamp}-{uuid.uuid4().hex[:8]}"
                self._path = os.path.join(self.directory, name + OPEN_SUFFIX)
                self._handle = open(self._path, "ab", buffering=0)
                self._opened = time.monotonic()
            self._handle.write(line)
        except OSError as exc:
            self._failed("write", f"cannot write {self._path or self.directory}: {exc}")
            self._rotate()  # a partly written line stays the last one of its file
            return
        self._count("mlp_inference_log_records")
        if self._handle.tell() >= self.rotate_bytes:
            self._rotate()

    def _rotate(self) -> None:
        """Close the open file and rename it ``.jsonl``: complete, ready for ingestion."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            handle.close()
            os.replace(self._path, self._path[: -len(OPEN_SUFFIX)] + CLOSED_SUFFIX)
        except OSError as exc:
            self._failed("rotate", f"cannot close {self._path}: {exc}", count=False)

    def _drain_and_close(self) -> None:
        if self._pid != os.getpid():
            return
        with self._lock:
            while True:
                try:
                    self._write(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._rotate()

    def _failed(self, reason: str, message: str, count: bool = True) -> None:
        if count:
            self._count("mlp_inference_log_errors", reason=reason)
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_SECONDS:
            self._last_warning = now
            log.warning("inference log: %s; requests are still answered (mlp_inference_log_errors_total)", message)


def close_orphans(directory: str, pid: int) -> list[str]:
    """Rotate the open spool files of the dead worker ``pid`` (run by the gunicorn master); return the new names."""
    host = _safe(socket.gethostname())
    done = []
    for path in glob.glob(os.path.join(glob.escape(directory), f"*-{host}-{pid}-*{OPEN_SUFFIX}")):
        closed = path[: -len(OPEN_SUFFIX)] + CLOSED_SUFFIX
        try:
            os.replace(path, closed)
            done.append(closed)
        except OSError as exc:
            log.warning("cannot close the spool file %s of dead worker %d: %s", path, pid, exc)
    return done
