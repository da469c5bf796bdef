"""scripts/bench: the shared benchlib, and every benchmark script imports and parses (no benchmark runs)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if p.name != "benchlib.py")

sys.path.insert(0, str(BENCH))
import benchlib  # noqa: E402  (scripts/bench is not a package: the scripts import it the same way)


def test_hardware_has_the_machine_and_renders_in_one_line():
    hw = benchlib.hardware(["pytest"], {"spark": "local[2]"})
    assert set(hw) == {"cpu", "cores", "ram_gb", "python", "platform", "packages", "details"}
    assert hw["cores"] == benchlib.usable_cores() >= 1
    assert hw["ram_gb"] > 0 and hw["cpu"]
    line = benchlib.hardware_line(hw)
    assert "\n" not in line and f"{hw['cores']} cores" in line
    assert f"pytest {pytest.__version__}" in line and "spark local[2]" in line


def test_a_loaded_run_reports_no_ratio():
    watch = benchlib.LoadWatch(cores=2, samples=[0.5, 3.2, 1.0])
    assert watch.max_load == 3.2 and not watch.quiet
    assert watch.ratio(10.0, 4.0) is None
    assert (
        watch.show(watch.ratio(10.0, 4.0)) == "not reported: other work's load 3.2 > 2 cores, rerun on a quiet machine"
    )


def test_a_quiet_run_reports_its_ratio():
    watch = benchlib.LoadWatch(cores=2, samples=[0.5, 2.0])
    assert watch.quiet
    assert watch.ratio(10.0, 4.0) == 2.5
    assert watch.show(watch.ratio(10.0, 4.0)) == "2.50x"
    assert watch.ratio(1.0, 0.0) is None and watch.show(None) == "-"


def test_the_runs_own_share_of_the_load_is_not_other_work():
    busy_by_itself = benchlib.LoadWatch(cores=2, samples=[0.5, 2.6, 2.4], own=[0.0, 1.9, 2.1])
    assert busy_by_itself.max_load == 2.6 and busy_by_itself.quiet
    assert busy_by_itself.max_others == pytest.approx(0.7)
    crowded = benchlib.LoadWatch(cores=2, samples=[3.0, 5.5], own=[0.0, 2.0])
    assert not crowded.quiet and crowded.ratio(2.0, 1.0) is None
    assert "other work's load 3.5 > 2 cores" in crowded.refusal
    with pytest.raises(ValueError, match="own shares"):
        benchlib.LoadWatch(samples=[1.0], own=[])


def test_runnable_threads_counts_a_busy_child_and_the_watch_damps_it_like_the_kernel():
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        deadline = time.monotonic() + 10
        while benchlib.runnable_threads() < 1 and time.monotonic() < deadline:  # until the child is on a CPU
            time.sleep(0.05)
        assert benchlib.runnable_threads() >= 1
        assert benchlib.runnable_threads(root=child.pid) == 1
        with benchlib.LoadWatch(interval_s=0.2) as watch:
            time.sleep(3)
    finally:
        child.kill()
        child.wait()
    # one busy thread for ~3 s: the kernel's average would hold 1 - exp(-3/60) of it, about 0.05
    assert 0.02 < watch.own[-1] < 0.1
    assert watch.max_others == max(max(0.0, load - own) for load, own in zip(watch.samples, watch.own))


def test_settle_waits_for_the_load_of_earlier_work_only_while_it_is_above_the_cores(capsys):
    assert benchlib.LoadWatch(cores=10_000).settle(within_s=5) < 1  # nothing to wait for
    waited = benchlib.LoadWatch(cores=-1).settle(within_s=0.3, poll_s=0.1)  # never below: gives up
    assert 0.3 <= waited < 2
    assert "waiting up to 0 s for it to settle" in capsys.readouterr().out


def test_allow_load_shows_a_loaded_ratio_marked():
    watch = benchlib.LoadWatch(cores=2, allow_load=True, samples=[5.0])
    assert watch.show(watch.ratio(3.0, 2.0)) == "1.50x (loaded)"
    assert "loaded" in watch.summary()


def test_the_watch_records_the_load_at_start_and_end():
    with benchlib.LoadWatch(interval_s=0.01) as watch:
        pass
    assert watch.load_start is not None and watch.load_end is not None
    assert len(watch.samples) >= 2 and watch.max_load >= 0


def test_write_json_adds_the_run_context(tmp_path):
    watch = benchlib.LoadWatch(cores=2, samples=[1.0])
    path = tmp_path / "out" / "bench.json"
    written = benchlib.write_json(path, {"ours_s": 1.5, "ratio": watch.ratio(3.0, 1.5)}, watch)
    document = json.loads(path.read_text())
    assert document == json.loads(json.dumps(written, default=str))
    assert document["ours_s"] == 1.5 and document["ratio"] == 2.0
    assert document["quiet"] is True and document["load"]["max_1min"] == 1.0 and document["load"]["cores"] == 2
    assert document["hardware"]["cores"] >= 1 and document["utc"].endswith("+00:00")
    assert "test_bench" in document["command"] or "pytest" in document["command"]
    with pytest.raises(ValueError, match="hardware"):
        benchlib.write_json(path, {"hardware": "mine"}, watch)


def test_every_benchmark_answers_help():
    """All at once (each imports its libraries): every script parses; benchlib's users show its options."""
    procs = {
        p.name: subprocess.Popen(
            [sys.executable, str(p), "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for p in SCRIPTS
    }
    failed = {}
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            failed[name] = "no answer to --help in 60 s"
            continue
        if proc.returncode != 0:
            failed[name] = err[-2000:]
        elif "import benchlib" in (BENCH / name).read_text() and not ("--json" in out and "--allow-load" in out):
            failed[name] = "no --json / --allow-load (benchlib.add_arguments)"
    assert not failed, failed
