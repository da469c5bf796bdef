"""The ``user`` of a commit is the OS user who ran the write, whatever USER / LOGNAME say.

A real OS user (created by the test as root) writes a table with deltalake; the commit
metadata must name that user, not the name its environment claims (``getpass`` would
take LOGNAME's word for it).
"""

from __future__ import annotations

import json
import os
import sys

import pytest
from os_users import created, run_as, shared_folder

from mlplatform import tables

WRITER = "mlp-t-writer"

_WRITE = """
import sys
import pandas as pd
from mlplatform import tables
from mlplatform.tables.commits import commit_metadata
tables.write_pandas(pd.DataFrame({"a": [1, 2]}), sys.argv[1])
print(commit_metadata()["user"])
"""


@pytest.fixture
def shared_table():
    """A table location every test user may write."""
    with shared_folder("mlp-actor-") as folder:
        yield folder / "t"


def test_commit_metadata_names_the_os_user_not_the_claimed_one(shared_table):
    if os.geteuid() != 0:
        pytest.skip("creating OS users needs root")
    claimed = {"USER": "someone-else", "LOGNAME": "someone-else", "MLP_CODE_VERSION": "test"}
    with created({WRITER: []}):
        done = run_as(WRITER, sys.executable, "-c", _WRITE, str(shared_table), env=claimed)
        assert done.returncode == 0, done.stderr[-2000:]
    (commit,) = tables.history(str(shared_table))
    assert commit.metadata["user"] == WRITER
    assert done.stdout.strip() == WRITER
    # the same commit read from the Delta log itself, not through the platform's parser
    (log_file,) = (shared_table / "_delta_log").glob("*.json")
    infos = [json.loads(line)["commitInfo"] for line in log_file.read_text().splitlines() if "commitInfo" in line]
    assert json.loads(infos[0]["userMetadata"])["user"] == WRITER
