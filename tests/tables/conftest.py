"""Fixtures for the tables tests: copies of the Delta test data in tests/data/delta, table paths, a gate UDF."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
TESTDATA = REPO / "tests" / "data" / "delta"

# Row counts and latest versions stated in tests/data/delta/README.md (read by deltalake there).
EXPECTED = {
    "simple_table": {"rows": 3, "version": 4},
    "simple_table_with_checkpoint": {"rows": 11, "version": 10},
    "delta-0.8.0-partitioned": {"rows": 7},
    "delta-2.2.0-partitioned-types": {"rows": 3},
    "delta-0.8.0-null-partition": {"rows": 2},
    "delta-0.8.0-special-partition": {"rows": 2},
    "table_with_column_mapping": {"rows": 5, "columns": ["Company Very Short", "Super Name"]},
    "table-with-dv-small": {"rows": 8, "values": list(range(1, 9))},
}


@pytest.fixture(scope="session")
def testdata_tables() -> list[str]:
    names = sorted(p.name for p in TESTDATA.iterdir() if (p / "_delta_log").is_dir())
    assert set(names) == set(EXPECTED), "testdata README and folder disagree"
    return names


@pytest.fixture
def copy_testdata(tmp_path: Path) -> Callable[[str], str]:
    """Copy a test table into tmp_path (never write to the copy in the repository)."""

    def copy(name: str) -> str:
        dest = tmp_path / "testdata" / name
        shutil.copytree(TESTDATA / name, dest)
        return str(dest)

    return copy


@pytest.fixture
def table(tmp_path: Path) -> str:
    """A fresh table location."""
    return str(tmp_path / "warehouse" / "t")


class Gate:
    """Holds a Spark task until released: makes two writers overlap for certain.

    ``hold(df, skip)`` returns ``df`` whose computation, from its ``skip + 1``-th pass
    over the data on, touches ``started`` and waits for ``release()``. A pass is one
    task (the frame is coalesced to one partition); a writer's Delta transaction is
    open while its pass is held.
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.started = folder / "started"
        self.released = folder / "released"

    def hold(self, df: Any, skip: int = 0) -> Any:
        folder = str(self.folder)

        def wait(batches: Any) -> Any:
            import os
            import time as _time
            import uuid

            open(os.path.join(folder, f"pass-{uuid.uuid4().hex}"), "w").close()
            passes = sum(1 for name in os.listdir(folder) if name.startswith("pass-"))
            if passes > skip:
                open(os.path.join(folder, "started"), "w").close()
                deadline = _time.time() + 120
                while not os.path.exists(os.path.join(folder, "released")) and _time.time() < deadline:
                    _time.sleep(0.02)
            yield from batches

        return df.coalesce(1).mapInArrow(wait, df.schema)

    def wait_started(self, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while not self.started.exists():
            assert time.time() < deadline, "gated write never started"
            time.sleep(0.02)

    def release(self) -> None:
        self.released.touch()


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    return Gate(tmp_path / "gate")
