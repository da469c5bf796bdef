"""The native thread cap reaches libraries loaded after an earlier cap was set (the controller is renewed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

CHECK = """
import json
from mlplatform.threads import native_thread_limit

with native_thread_limit(1):  # nothing native loaded yet
    pass
import sklearn.ensemble  # loads OpenMP and BLAS
from threadpoolctl import threadpool_info

before = [pool["num_threads"] for pool in threadpool_info()]
with native_thread_limit(1):
    inside = [pool["num_threads"] for pool in threadpool_info()]
after = [pool["num_threads"] for pool in threadpool_info()]
print(json.dumps({"before": before, "inside": inside, "after": after}))
"""


def test_a_cap_set_after_an_import_reaches_the_libraries_it_loaded() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, cwd=REPO / "platform"
    ).stdout
    pools = json.loads(out)
    if not pools["before"] or max(pools["before"]) < 2:
        pytest.skip("one core: the pools have a single thread already")
    assert pools["before"] and len(pools["inside"]) == len(pools["before"])
    assert set(pools["inside"]) == {1}
    assert pools["after"] == pools["before"]
