"""The audit log's hash chain: intact when written, broken at the right row when altered."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import subprocess
import sys

import pytest
from deltalake import DeltaTable

from mlplatform import tables
from mlplatform.errors import EXIT_AUDIT_BROKEN, AuditChainError
from mlplatform.lineage.audit import verify
from mlplatform.lineage.chain import GENESIS
from mlplatform.lineage.edges import Edge, lineage_table, record

from .conftest import churn_history


@pytest.fixture
def chained(settings):
    """Six commits of the churn history, the first edge of each and two rows for the last, in a fresh log."""
    for action, edges, run in churn_history()[:5]:
        record(settings, edges[:1], action=action, job_run=run, details={"rows": 10})
    record(settings, churn_history()[5][1][:2], action="score", job_run="two-rows", details={"rows": 3})
    return settings


def _rows(settings) -> list[dict]:
    return sorted(DeltaTable(lineage_table(settings)).to_pyarrow_table().to_pylist(), key=lambda r: r["seq"])


def _reference_hash(row: dict) -> str:
    """The documented encoding, written out again: sorted-key JSON of every field but row_hash."""
    fields = {k: v for k, v in row.items() if k != "row_hash"}
    fields["at"] = row["at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_fresh_log_verifies_and_links_every_row_to_the_one_before(chained, mlp):
    rows = _rows(chained)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0]["prev_hash"] == GENESIS
    for before, row in zip(rows, rows[1:]):
        assert row["prev_hash"] == before["row_hash"]
    assert all(_reference_hash(r) == r["row_hash"] for r in rows)
    assert rows[0]["actor"] == pwd.getpwuid(os.geteuid()).pw_name
    report = verify(chained)
    assert report.ok and report.head_seq == len(rows) and report.head_hash == rows[-1]["row_hash"]
    done = mlp(["audit", "verify"])
    assert done.returncode == 0, done.stderr
    assert "chain intact" in done.stdout and f"head seq {len(rows)}" in done.stdout


def _edit(dt: DeltaTable) -> None:
    dt.update(updates={"details": "'{\"rows\": 11}'"}, predicate="seq = 3")


def _delete(dt: DeltaTable) -> None:
    dt.delete("seq = 4")


def _swap(dt: DeltaTable) -> None:
    dt.update(new_values={"seq": -1}, predicate="seq = 2")
    dt.update(new_values={"seq": 2}, predicate="seq = 5")
    dt.update(new_values={"seq": 5}, predicate="seq = -1")


@pytest.mark.parametrize(
    ("tamper", "seq", "words"),
    [(_edit, 3, "was edited"), (_delete, 4, "missing"), (_swap, 2, "does not follow row 1")],
    ids=["edited", "deleted", "swapped"],
)
def test_altered_row_is_named(chained, mlp, tamper, seq, words):
    tamper(DeltaTable(lineage_table(chained)))
    with pytest.raises(AuditChainError) as caught:
        verify(chained)
    assert f"row seq {seq} " in caught.value.message and words in caught.value.message
    done = mlp(["audit", "verify"])
    assert done.returncode == EXIT_AUDIT_BROKEN
    assert f"chain broken at row seq {seq} " in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_deleted_tail_is_detected(chained):
    dt = DeltaTable(lineage_table(chained))
    last = max(dt.to_pyarrow_table(columns=["seq"]).column("seq").to_pylist())
    dt.delete(f"seq = {last}")
    with pytest.raises(AuditChainError, match=f"row seq {last}: missing: the log recorded rows up to seq {last}"):
        verify(chained)


def test_log_from_before_the_chain_gets_one_from_its_next_write(settings):
    import pandas as pd

    old = pd.DataFrame(
        [
            {
                "from_id": "a",
                "relation": "audit",
                "to_id": "a",
                "action": "old",
                "job_run": "r",
                "actor": "x",
                "at": pd.Timestamp("2026-01-01", tz="UTC"),
                "details": "{}",
            }
        ]
    )
    tables.write_pandas(old, lineage_table(settings))
    record(settings, [Edge("ts:churn@v1", "training_set", "model:churn@1")], action="register", job_run="r2")
    record(settings, [], action="promote", job_run="r3", subject="model:churn@1")
    report = verify(settings)
    assert (report.rows, report.unchained, report.first_seq, report.head_seq) == (3, 1, 1, 2)
    assert "1 row(s) were written before the chain existed" in "\n".join(report.lines())


_WRITER = """
import sys
from mlplatform.config import load_settings
from mlplatform.lineage.edges import record
settings = load_settings()
for i in range(20):
    record(settings, [], action="score", job_run=f"{sys.argv[1]}-{i}", subject="scores:churn@v1")
"""


def test_two_concurrent_writers_keep_one_chain(settings):
    record(settings, [], action="build", job_run="first", subject="env:x@1")  # the table exists: both append
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, name]) for name in ("a", "b")]
    assert [w.wait(timeout=300) for w in writers] == [0, 0]
    report = verify(settings)
    assert report.ok and report.rows == report.head_seq == 41
    runs = [r["job_run"] for r in _rows(settings)]
    assert sorted(runs) == sorted(["first", *(f"{n}-{i}" for n in "ab" for i in range(20))])


def test_a_commit_that_is_not_the_chain_s_does_not_lose_the_head(settings):
    record(settings, [], action="build", job_run="one", subject="env:x@1")
    tables.set_descriptions(lineage_table(settings), description="the audit log")  # newest commit: no chain_head
    record(settings, [], action="build", job_run="two", subject="env:x@2")
    report = verify(settings)
    assert report.ok and report.head_seq == 2
