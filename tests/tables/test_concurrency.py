"""Concurrent writers, conflicts, retries, killed jobs.

What proves what:
- Two threads of one session, one held inside its write by a gate, make the
  overlap certain: the held writer's Delta transaction read its snapshot before
  the other writer committed and commits after it. That exercises Delta's
  conflict detection and the platform's retry/error on every run, not by luck.
- Two ``mlp submit`` jobs (two driver processes, two JVMs) appending at the same
  time exercise the cross-process path, where on a local disk only the platform's
  writer lock keeps delta-spark from overwriting another JVM's commit file.
- A job killed by SIGKILL while one of its tasks has already written its data file
  shows that files are not a commit: the table stays at its previous version.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from mlplatform import tables
from mlplatform.errors import TableError
from mlplatform.tables.locking import LOCK_FILE, commit_lock

REPO = Path(__file__).resolve().parents[2]
MLP = str(Path(sys.executable).with_name("mlp"))
DRIVER = Path(__file__).with_name("drivers") / "writer.py"


class Background:
    """Run a call in a thread; keep its result or exception."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self.thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self.result = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test
            self.error = exc

    def join(self) -> Any:
        self.thread.join(timeout=300)
        assert not self.thread.is_alive(), "writer thread did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def _days(spark, *rows: tuple[str, str, int]):
    return spark.createDataFrame(list(rows), "day string, id string, v int")


def test_two_appends_overlapping_in_time_both_land(spark, table, gate):
    tables.write(_days(spark, ("d1", "seed", 0)), table)
    held = Background(lambda: tables.write(gate.hold(_days(spark, ("d1", "a", 1))), table, metadata={"job": "A"}))
    gate.wait_started()
    assert tables.write(_days(spark, ("d1", "b", 2)), table, metadata={"job": "B"}) == 1
    gate.release()
    assert held.join() == 2
    assertDataFrameEqual(tables.read(spark, table).select("id"), [Row(id="seed"), Row(id="a"), Row(id="b")])
    assert [c.metadata["job"] for c in tables.history(table, limit=2)] == ["A", "B"]


def test_replacing_different_partitions_concurrently_both_land(spark, table, gate):
    tables.write(_days(spark, ("d1", "x", 0), ("d2", "y", 0)), table, partition_by=["day"])
    held = Background(lambda: tables.write(gate.hold(_days(spark, ("d1", "x", 1))), table, replace_where="day = 'd1'"))
    gate.wait_started()
    tables.write(_days(spark, ("d2", "y", 2)), table, replace_where="day = 'd2'")
    gate.release()
    assert held.join() == 2
    assertDataFrameEqual(tables.read(spark, table), [Row(day="d1", id="x", v=1), Row(day="d2", id="y", v=2)])


def test_a_real_conflict_names_the_table_and_the_other_writers_version(spark, table, gate):
    tables.write(_days(spark, ("d1", "x", 0)), table, partition_by=["day"])
    held = Background(lambda: tables.write(gate.hold(_days(spark, ("d1", "x", 1))), table, replace_where="day = 'd1'"))
    gate.wait_started()
    tables.write(_days(spark, ("d1", "late", 5)), table, metadata={"job": "late-loader", "run_id": "r42"})
    gate.release()
    with pytest.raises(TableError) as err:
        held.join()
    message = str(err.value)
    assert table in message and "version 1 (WRITE by job late-loader, run_id r42" in message
    assert "nothing of this write was committed" in message
    # the other writer's rows are intact and the held writer left nothing
    assert tables.version(table) == 1
    assertDataFrameEqual(tables.read(spark, table), [Row(day="d1", id="x", v=0), Row(day="d1", id="late", v=5)])


def test_a_merge_that_lost_the_race_is_retried_on_the_new_snapshot(spark, table, gate):
    tables.write(spark.createDataFrame([("a", 1), ("b", 1)], "k string, v int"), table)
    # skip=1: the first pass over the source is the merge's duplicate-key check
    source = gate.hold(spark.createDataFrame([("b", 2), ("c", 2)], "k string, v int"), skip=1)
    held = Background(lambda: tables.merge(source, table, keys=["k"], metadata={"job": "upsert"}))
    gate.wait_started()
    tables.write(spark.createDataFrame([("d", 9)], "k string, v int"), table)
    gate.release()
    assert held.join() == 2
    assertDataFrameEqual(
        tables.read(spark, table), [Row(k="a", v=1), Row(k="b", v=2), Row(k="c", v=2), Row(k="d", v=9)]
    )
    assert tables.history(table, limit=1)[0].metadata["job"] == "upsert"


def test_a_merge_whose_source_reads_the_table_is_not_retried(spark, table, gate):
    tables.write(spark.createDataFrame([("a", 1)], "k string, v int"), table)
    source = gate.hold(tables.read(spark, table).selectExpr("k", "v + 1 as v"), skip=1)
    held = Background(lambda: tables.merge(source, table, keys=["k"]))
    gate.wait_started()
    tables.write(spark.createDataFrame([("a", 100)], "k string, v int"), table, mode="overwrite")
    gate.release()
    with pytest.raises(TableError, match="conflicts with version 1"):
        held.join()
    assert tables.to_pandas(table).to_dict("records") == [{"k": "a", "v": 100}]


def test_the_writer_lock_keeps_other_processes_out_of_a_spark_commit(table):
    """Spark writers exclude other processes; deltalake writers only exclude Spark writers."""
    holder = (
        "import sys, time\n"
        "from mlplatform.tables.locking import commit_lock\n"
        f"with commit_lock({table!r}, sys.argv[1]):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(float(sys.argv[2]))\n"
    )

    def hold(engine: str, seconds: float) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", holder, engine, str(seconds)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        return proc

    other = hold("spark", 1.5)
    start = time.monotonic()
    tables.write_pandas(pd.DataFrame({"v": [1]}), table)
    assert time.monotonic() - start >= 1.0, "the deltalake write did not wait for the other process's Spark write"
    other.wait()
    other = hold("deltalake", 30)
    start = time.monotonic()
    tables.write_pandas(pd.DataFrame({"v": [2]}), table)
    assert time.monotonic() - start < 10, "two deltalake writers must not exclude each other"
    other.kill()
    other.wait()
    assert (Path(table) / LOCK_FILE).is_file() and tables.version(table) == 1
    with commit_lock(table, "spark"):  # a killed holder released it
        pass


def _submit(mlp_env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [MLP, "submit", "--profile", "local", str(DRIVER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env=mlp_env,
        start_new_session=True,
    )


@pytest.mark.slow
def test_two_jobs_appending_at_the_same_time_lose_and_duplicate_nothing(table):
    env = dict(os.environ)
    jobs = [_submit(env, "--table", table, "--tag", tag, "--batches", "3", "--rows", "5") for tag in ("A", "B")]
    outputs = [job.communicate(timeout=600)[0] for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], "\n".join(outputs)
    frame = tables.to_pandas(table)
    assert len(frame) == 30
    assert frame.groupby(["writer", "batch"]).size().to_dict() == {(w, b): 5 for w in "AB" for b in range(3)}
    commits = tables.history(table)
    assert sorted(c.version for c in commits) == list(range(6))
    assert sorted(c.metadata["job"] for c in commits) == ["writer-A"] * 3 + ["writer-B"] * 3


@pytest.mark.slow
def test_a_job_killed_before_its_commit_leaves_the_previous_version(spark, table, tmp_path):
    seed = spark.range(3).selectExpr("'seed' as writer", "0 as batch", "id", "0 as part")
    tables.write(seed, table)
    before = set(Path(table).glob("*.parquet"))
    hold_dir = tmp_path / "hold"
    hold_dir.mkdir()
    job = _submit(dict(os.environ), "--table", table, "--tag", "killed", "--rows", "1000", "--hold", str(hold_dir))
    try:
        deadline = time.monotonic() + 300
        # one task is held, the other has written its data file: the job is mid-write
        while not ((hold_dir / "started").exists() and set(Path(table).glob("*.parquet")) - before):
            assert job.poll() is None, job.communicate()[0]
            assert time.monotonic() < deadline, "the job never reached its write"
            time.sleep(0.1)
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=60)
    orphans = set(Path(table).glob("*.parquet")) - before
    assert orphans, "the job was not killed mid-write"
    assert tables.version(table) == 0
    assertDataFrameEqual(tables.read(spark, table), seed)
    assert len(tables.to_pandas(table)) == 3
    # the table is usable at once (the killed job's lock died with it), and vacuum drops the orphans
    assert tables.write(seed, table) == 1
    removed = tables.vacuum(table, retention_hours=0, enforce_retention=False)
    # (Spark also leaves files of empty tasks that Delta never committed: they go too)
    assert {Path(p).name for p in removed} >= {p.name for p in orphans}
    assert len(tables.to_pandas(table)) == 6 and tables.read(spark, table).count() == 6
