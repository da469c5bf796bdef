"""Prometheus metrics of the scoring server, summed over gunicorn's worker processes.

Image-side: standard library only (``prometheus_client`` is not in model environments),
copied into the build context as ``mlp_server_metrics.py`` next to the server.

It does what ``prometheus_client``'s multiprocess mode does, with plain files:

- each worker counts in memory (a dict of counters and histograms under one lock: the
  request path does a few additions, no I/O);
- a daemon thread of the worker writes its totals every ``MLP_METRICS_FLUSH_SECONDS``
  (default 0.25) when they changed, and once more at exit, to
  ``<MLP_METRICS_DIR>/worker-<pid>-<token>.json`` through a temporary file and a rename,
  so a reader never sees half a file;
- ``GET /metrics`` on any worker sums every file of the folder, its own live totals in place
  of its own file, and renders the text exposition format (``# HELP``/``# TYPE``,
  ``_total``, ``_bucket{le=...}``, ``_sum``, ``_count``).

A dead worker's file stays, so its counts keep counting after gunicorn replaces it (as
``prometheus_client`` keeps a dead pid's counters); a SIGKILL loses at most the last flush
interval. The gunicorn master (``gunicorn.conf.py``) makes a fresh folder when
``MLP_METRICS_DIR`` is unset and empties a given one as it starts. Without a folder (the app
run outside gunicorn) the metrics are the process's own.
"""

from __future__ import annotations

import atexit
import bisect
import json
import logging
import math
import os
import threading
import time
import uuid
from typing import Any, Iterable, Sequence

__all__ = [
    "DIR_ENV",
    "LATENCY_BUCKETS",
    "PREDICTION_BUCKETS",
    "Metrics",
    "render",
]

log = logging.getLogger("mlp.scoring.metrics")

DIR_ENV = "MLP_METRICS_DIR"
FLUSH_ENV = "MLP_METRICS_FLUSH_SECONDS"
PREDICTION_BUCKETS_ENV = "MLP_PREDICTION_BUCKETS"
FILE_PREFIX = "worker-"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
PREDICTION_BUCKETS = tuple(i / 10 for i in range(11))

# name -> (type, help); counters are rendered with _total, histograms with _bucket/_sum/_count
FAMILIES: dict[str, tuple[str, str]] = {
    "mlp_requests": ("counter", "HTTP requests answered, by endpoint and status code."),
    "mlp_request_duration_seconds": ("histogram", "Time from reading the request to the response, by endpoint."),
    "mlp_rows_scored": ("counter", "Input rows scored by successful /invocations requests."),
    "mlp_prediction": ("histogram", "Numeric predictions returned (MLP_PREDICTION_BUCKETS)."),
    "mlp_inference_log_records": ("counter", "Requests written to the inference log spool."),
    "mlp_inference_log_errors": (
        "counter",
        "Sampled requests the inference log could not write (unwritable or full spool, queue full).",
    ),
}
INFO = ("mlp_model_info", "The model this server scores (value 1).")

Labels = tuple[tuple[str, str], ...]


def _buckets_from_env() -> tuple[float, ...]:
    text = os.environ.get(PREDICTION_BUCKETS_ENV, "").strip()
    if not text:
        return PREDICTION_BUCKETS
    try:
        edges = tuple(sorted(float(v) for v in text.split(",") if v.strip()))
    except ValueError:
        log.warning(
            "%s=%r is not a comma-separated list of numbers; using the default buckets", PREDICTION_BUCKETS_ENV, text
        )
        return PREDICTION_BUCKETS
    return edges or PREDICTION_BUCKETS


class Metrics:
    """One worker's counters and histograms, shared with the other workers through ``directory``.

    Args:
        labels: the labels every series carries (model name and version).
        directory: the shared folder (``MLP_METRICS_DIR``); None keeps the metrics in this process.
        flush_seconds: how often the worker's totals are written (``MLP_METRICS_FLUSH_SECONDS``).
    """

    def __init__(
        self,
        labels: dict[str, str],
        directory: str | None = None,
        flush_seconds: float | None = None,
        prediction_buckets: Sequence[float] | None = None,
    ) -> None:
        self.labels: Labels = tuple(labels.items())
        self.directory = directory
        self.flush_seconds = flush_seconds if flush_seconds is not None else float(os.environ.get(FLUSH_ENV) or 0.25)
        self.prediction_buckets = tuple(prediction_buckets or _buckets_from_env())
        self._lock = threading.Lock()
        self._pid = -1
        self._reset()

    @classmethod
    def from_env(cls, labels: dict[str, str]) -> "Metrics":
        """Metrics shared through ``MLP_METRICS_DIR`` when it is set."""
        return cls(labels, os.environ.get(DIR_ENV) or None)

    # ------------------------------------------------------------------ recording (request path)

    def _reset(self) -> None:
        """Fresh totals for this process (after a fork the parent's belong to the parent)."""
        self._counters: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, tuple[tuple[float, ...], dict[Labels, list[float]]]] = {}
        self._dirty = threading.Event()
        self._pid = os.getpid()
        self._file = None
        if self.directory:
            self._file = os.path.join(self.directory, f"{FILE_PREFIX}{self._pid}-{uuid.uuid4().hex[:8]}.json")
            threading.Thread(target=self._flush_loop, name="mlp-metrics-flush", daemon=True).start()
            atexit.register(self._flush_at_exit)

    def _own(self) -> None:
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._reset()

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        """Add ``value`` to the counter ``name`` of ``labels`` (on top of the common ones)."""
        self._own()
        key = self.labels + tuple(labels.items())
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0.0) + value
        self._dirty.set()

    def observe(self, name: str, values: Iterable[float], edges: Sequence[float], **labels: str) -> None:
        """Count ``values`` into the histogram ``name`` with upper bounds ``edges`` (+Inf added; NaN skipped)."""
        self._own()
        counts = [0] * (len(edges) + 1)
        total = 0.0
        n = 0
        for value in values:
            if value != value:
                continue
            counts[bisect.bisect_left(edges, value)] += 1  # le is inclusive
            total += value
            n += 1
        if not n:
            return
        key = self.labels + tuple(labels.items())
        with self._lock:
            edges_now, series = self._histograms.setdefault(name, (tuple(edges), {}))
            state = series.setdefault(key, [0.0] * (len(edges_now) + 3))
            for i, c in enumerate(counts):
                state[i] += c
            state[-2] += total
            state[-1] += n
        self._dirty.set()

    def observe_predictions(self, predictions: Any) -> None:
        """Numeric predictions into ``mlp_prediction`` (other kinds are not observed)."""
        self.observe("mlp_prediction", _numbers(predictions), self.prediction_buckets)

    # ------------------------------------------------------------------ sharing (off the request path)

    def snapshot(self) -> dict[str, Any]:
        """This process's totals, as the JSON its file holds."""
        with self._lock:
            return {
                "counters": {n: [[list(map(list, k)), v] for k, v in s.items()] for n, s in self._counters.items()},
                "histograms": {
                    n: {"edges": list(edges), "series": [[list(map(list, k)), v[:]] for k, v in s.items()]}
                    for n, (edges, s) in self._histograms.items()
                },
            }

    def flush(self) -> None:
        """Write this process's totals to its file now (temporary file, then rename)."""
        if not self._file:
            return
        self._dirty.clear()
        partial = f"{self._file}.{uuid.uuid4().hex[:6]}.tmp"
        try:
            with open(partial, "w") as handle:
                json.dump(self.snapshot(), handle)
            os.replace(partial, self._file)
        except OSError as exc:
            log.warning("cannot write metrics file %s: %s", self._file, exc)
            try:
                os.unlink(partial)
            except OSError:
                pass

    def _flush_loop(self) -> None:
        while True:
            self._dirty.wait()
            self.flush()
            time.sleep(self.flush_seconds)

    def _flush_at_exit(self) -> None:
        if self._pid == os.getpid() and self._dirty.is_set():
            self.flush()

    def collect(self) -> list[dict[str, Any]]:
        """Every worker's totals: the other workers' files and this process's live ones."""
        self._own()
        found = [self.snapshot()]
        if self.directory:
            try:
                names = sorted(os.listdir(self.directory))
            except OSError as exc:
                log.warning("cannot list metrics folder %s: %s", self.directory, exc)
                names = []
            mine = os.path.basename(self._file or "")
            for name in names:
                if not (name.startswith(FILE_PREFIX) and name.endswith(".json")) or name == mine:
                    continue
                try:
                    with open(os.path.join(self.directory, name)) as handle:
                        found.append(json.load(handle))
                except (OSError, ValueError) as exc:  # removed meanwhile, or not ours
                    log.debug("skipping metrics file %s: %s", name, exc)
        return found

    def render(self, env_id: str | None = None) -> bytes:
        """The text exposition format of every worker's totals."""
        return render(self.collect(), self.labels + (("env_id", env_id or ""),)).encode()


def _numbers(predictions: Any) -> list[float]:
    """Numeric predictions as floats; an empty list for labels, rows of several outputs and the like."""
    values = predictions if isinstance(predictions, list) else []
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return []
        out.append(float(value))
    return out


def _labels_text(labels: Iterable[Sequence[str]], extra: str = "") -> str:
    parts = [f'{k}="{_escape(str(v))}"' for k, v in labels]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render(snapshots: list[dict[str, Any]], info_labels: Labels) -> str:
    """Sum ``snapshots`` (as :meth:`Metrics.snapshot` makes them) into the text exposition format."""
    counters: dict[str, dict[Labels, float]] = {}
    histograms: dict[str, tuple[list[float], dict[Labels, list[float]]]] = {}
    for snap in snapshots:
        for name, series in snap.get("counters", {}).items():
            into = counters.setdefault(name, {})
            for key, value in series:
                k = tuple(map(tuple, key))
                into[k] = into.get(k, 0.0) + value
        for name, hist in snap.get("histograms", {}).items():
            edges, into_h = histograms.setdefault(name, (hist["edges"], {}))
            if hist["edges"] != edges:  # another bucket setting (MLP_PREDICTION_BUCKETS changed): not summable
                continue
            for key, state in hist["series"]:
                k = tuple(map(tuple, key))
                have = into_h.get(k)
                into_h[k] = state[:] if have is None else [a + b for a, b in zip(have, state)]
    lines = [f"# HELP {INFO[0]} {INFO[1]}", f"# TYPE {INFO[0]} gauge", f"{INFO[0]}{_labels_text(info_labels)} 1.0"]
    for name, (kind, text) in FAMILIES.items():
        exposed = f"{name}_total" if kind == "counter" else name
        lines += [f"# HELP {exposed} {text}", f"# TYPE {exposed} {kind}"]
        if kind == "counter":
            for key, value in sorted(counters.get(name, {}).items()):
                lines.append(f"{name}_total{_labels_text(key)} {_number(value)}")
            continue
        edges, series = histograms.get(name, ([], {}))
        for key, state in sorted(series.items()):
            cumulative = 0.0
            for edge, count in zip([*edges, math.inf], state):
                cumulative += count
                le = 'le="' + _number(edge) + '"'
                lines.append(f"{name}_bucket{_labels_text(key, le)} {_number(cumulative)}")
            lines.append(f"{name}_sum{_labels_text(key)} {_number(state[-2])}")
            lines.append(f"{name}_count{_labels_text(key)} {_number(state[-1])}")
    return "\n".join(lines) + "\n"
