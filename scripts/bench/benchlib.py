"""What every benchmark in scripts/bench shares: the machine, its load, the JSON record.

A benchmark script runs as ``python scripts/bench/NAME.py``, so this folder is on
``sys.path`` and ``import benchlib`` finds this module::

    parser = argparse.ArgumentParser()
    benchlib.add_arguments(parser, __file__)      # --json FILE, --allow-load
    args = parser.parse_args()
    watch = benchlib.LoadWatch.from_args(args).start()
    ...                                            # the measurements
    watch.stop()
    print(watch.show(watch.ratio(theirs_s, ours_s)))  # "2.10x", or why it is not reported
    benchlib.write_json(args.json, {"ours_s": ours_s}, watch)

A ratio from a run whose 1-minute load average, less the run's own share of it, went
above the usable cores compares figures other work inflated by unknown amounts:
``LoadWatch.ratio`` refuses it (None) unless ``--allow-load`` asked to see it, and then
``show`` marks it "(loaded)". The run's own share is what the kernel's average would be
if only the benchmark's process tree ran: its runnable threads, sampled, damped the way
the kernel damps the load (``exp(-interval / 60 s)`` per sample). A benchmark that keeps
both cores busy puts the plain load average above 2 by itself (a Spark JVM's GC and JIT
threads come on top), so the plain figure would refuse every run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import threading
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterable

REPO = Path(__file__).resolve().parents[2]
JSON_DIR = REPO / ".mlp" / "bench"
SAMPLE_EVERY_S = 2.0
SETTLE_S = 180.0  # how long a benchmark waits at start for the load of earlier work to decay
KERNEL_WINDOW_S = 60.0  # the 1-minute load average's time constant

__all__ = ["LoadWatch", "add_arguments", "hardware", "hardware_line", "usable_cores", "write_json"]


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0))


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    found = (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    return next(found, platform.processor() or "unknown CPU")


def _ram_gb() -> float | None:
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return None
    kb = next((int(line.split()[1]) for line in lines if line.startswith("MemTotal:")), None)
    return None if kb is None else round(kb / 1024**2, 1)


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _parent_pids() -> dict[int, int]:
    """pid -> parent pid of every process visible in /proc."""
    parents = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def runnable_threads(root: int | None = None, skip_tid: int | None = None) -> int:
    """Threads of ``root`` (default this process) and its descendants that count in the load (state R or D)."""
    root = os.getpid() if root is None else root
    children: dict[int, list[int]] = {}
    for pid, parent in _parent_pids().items():
        children.setdefault(parent, []).append(pid)
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, ()))
    count = 0
    for pid in tree:
        try:
            tasks = list(os.scandir(f"/proc/{pid}/task"))
        except OSError:
            continue
        for task in tasks:
            if task.name == str(skip_tid):
                continue
            try:
                state = Path(task.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            count += state in ("R", "D")
    return count


def hardware(packages: Iterable[str] = (), details: dict[str, str] | None = None) -> dict[str, Any]:
    """The machine and software a run measured.

    Args:
        packages: distributions whose installed versions matter to the figures (read from
            their metadata, nothing is imported).
        details: anything else the figures depend on, e.g. ``{"spark": "local[2]"}``.
    """
    return {
        "cpu": _cpu_model(),
        "cores": usable_cores(),
        "ram_gb": _ram_gb(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in packages},
        "details": dict(details or {}),
    }


def hardware_line(hw: dict[str, Any]) -> str:
    """``hardware()`` in one line, for the top of a report."""
    ram = "? GB" if hw["ram_gb"] is None else f"{hw['ram_gb']:.0f} GB"
    parts = [f"{hw['cpu']}, {hw['cores']} cores, {ram} RAM, {hw['platform']}; Python {hw['python']}"]
    parts += [f"{name} {v}" for name, v in hw["packages"].items()]
    parts += [f"{key} {value}" for key, value in hw["details"].items()]
    return ", ".join(parts)


class LoadWatch:
    """The load average over a run, and the guard on the ratios it reports.

    ``start()`` records ``os.getloadavg()`` and samples, every ``interval_s`` in a
    daemon thread until ``stop()``, the 1-minute load and this run's own share of it
    (``runnable_threads`` of this process tree, damped like the kernel's average). The
    run was quiet when no sample of the load less the own share exceeded the usable
    cores. ``samples``, ``own`` and ``cores`` let a caller (or a test) state a load
    instead of measuring it.
    """

    def __init__(
        self,
        cores: int | None = None,
        allow_load: bool = False,
        samples: Iterable[float] = (),
        interval_s: float = SAMPLE_EVERY_S,
        own: Iterable[float] | None = None,
    ) -> None:
        self.cores = usable_cores() if cores is None else cores
        self.allow_load = allow_load
        self.samples = list(samples)
        self.own = [0.0] * len(self.samples) if own is None else list(own)
        if len(self.own) != len(self.samples):
            raise ValueError(f"LoadWatch: {len(self.own)} own shares for {len(self.samples)} load samples")
        self.interval_s = interval_s
        self._own_average = 0.0
        self.load_start: tuple[float, float, float] | None = None
        self.load_end: tuple[float, float, float] | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> LoadWatch:
        """A watch honouring ``--allow-load`` (see ``add_arguments``) that waits for the load to settle."""
        watch = cls(allow_load=args.allow_load)
        watch.settle()
        return watch

    def settle(self, within_s: float = SETTLE_S, poll_s: float = 5.0) -> float:
        """Wait up to ``within_s`` until the 1-minute load is at most the cores; returns the seconds waited.

        The kernel's average keeps a finished job's load for minutes (it decays by ``1/e`` a
        minute): a benchmark started right after another would otherwise count it as other work.
        """
        started = time.monotonic()
        load = os.getloadavg()[0]
        if load > self.cores:
            print(
                f"load average {load:.1f} > {self.cores} cores: waiting up to {within_s:.0f} s for it to settle",
                flush=True,
            )
        while load > self.cores and time.monotonic() - started < within_s:
            time.sleep(poll_s)
            load = os.getloadavg()[0]
        return time.monotonic() - started

    def start(self) -> LoadWatch:
        self.load_start = os.getloadavg()
        self.record(self.load_start[0])
        self._thread = threading.Thread(target=self._sample, name="load-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> LoadWatch:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        self.load_end = os.getloadavg()
        self.record(self.load_end[0])
        return self

    def __enter__(self) -> LoadWatch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _sample(self) -> None:
        decay = math.exp(-self.interval_s / KERNEL_WINDOW_S)
        me = threading.get_native_id()
        while not self._stopped.wait(self.interval_s):
            running = runnable_threads(skip_tid=me)
            self._own_average = self._own_average * decay + running * (1 - decay)
            self.record(os.getloadavg()[0], self._own_average)

    def record(self, one_minute: float, own: float | None = None) -> None:
        """Add one sample of the 1-minute load average and this run's share of it (default: the last share)."""
        self.samples.append(one_minute)
        self.own.append(self._own_average if own is None else own)

    @property
    def max_load(self) -> float:
        return max(self.samples, default=0.0)

    @property
    def max_others(self) -> float:
        """The highest load average less this run's own share: what other work added."""
        return max((max(0.0, load - own) for load, own in zip(self.samples, self.own)), default=0.0)

    @property
    def quiet(self) -> bool:
        """True when the load other work added never exceeded the usable cores."""
        return self.max_others <= self.cores

    @property
    def refusal(self) -> str:
        return f"not reported: other work's load {self.max_others:.1f} > {self.cores} cores, rerun on a quiet machine"

    def ratio(self, ours: float, theirs: float) -> float | None:
        """``ours / theirs`` when the run was quiet (or ``--allow-load``), else None."""
        if not theirs or not (self.quiet or self.allow_load):
            return None
        return ours / theirs

    def show(self, value: float | None, spec: str = ".2f", suffix: str = "x") -> str:
        """A ratio from ``ratio()`` as text: the figure, marked "(loaded)" on a loaded run, or the refusal."""
        if value is not None:
            return f"{value:{spec}}{suffix}" + ("" if self.quiet else " (loaded)")
        return "-" if self.quiet or self.allow_load else self.refusal

    def cell(self, value: float | None, spec: str = ".2f", suffix: str = "x") -> str:
        """``show()`` for a table column: a refused ratio is "n/r", which ``summary()`` explains below the table."""
        if value is None and not (self.quiet or self.allow_load):
            return "n/r"
        return self.show(value, spec, suffix)

    def summary(self) -> str:
        """One line on the run's load, and what it means for its ratios."""
        start = "?" if self.load_start is None else f"{self.load_start[0]:.1f}"
        end = "?" if self.load_end is None else f"{self.load_end[0]:.1f}"
        line = (
            f"load average (1 min): start {start}, max {self.max_load:.1f}, end {end}; "
            f"less this run's own share, max {self.max_others:.1f}; on {self.cores} cores"
        )
        if self.quiet:
            return f"{line}: quiet"
        if self.allow_load:
            return f"{line}: loaded, ratios shown marked (loaded) (--allow-load)"
        return f"{line}: ratios (n/r) {self.refusal} (--allow-load shows them, marked)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "cores": self.cores,
            "start": self.load_start,
            "end": self.load_end,
            "max_1min": self.max_load,
            "max_own_share_1min": max(self.own, default=0.0),
            "max_others_1min": self.max_others,
            "samples": len(self.samples),
            "quiet": self.quiet,
            "allow_load": self.allow_load,
        }


def add_arguments(parser: argparse.ArgumentParser, script: str) -> None:
    """Add ``--json FILE`` (default ``.mlp/bench/<script name>.json``) and ``--allow-load``."""
    default = JSON_DIR / f"{Path(script).stem}.json"
    parser.add_argument(
        "--json", type=Path, default=default, metavar="FILE", help=f"figures and ratios as JSON (default {default})"
    )
    parser.add_argument(
        "--allow-load",
        action="store_true",
        help="report ratios even when the load average exceeded the cores, marked (loaded): exploratory runs only",
    )


def write_json(
    path: Path, payload: dict[str, Any], watch: LoadWatch, hw: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write ``payload`` to ``path`` with the hardware, the load, the command line and a UTC timestamp.

    Returns the document written. ``hw`` defaults to ``hardware()``; the payload may not
    use the keys this function adds.
    """
    meta = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hardware": hardware() if hw is None else hw,
        "load": watch.as_dict(),
        "quiet": watch.quiet,
    }
    clash = sorted(set(meta) & set(payload))
    if clash:
        raise ValueError(f"benchmark payload uses the keys write_json adds: {', '.join(clash)}; rename them")
    document = {**meta, **payload}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return document
