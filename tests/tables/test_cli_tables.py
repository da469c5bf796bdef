"""``mlp tables``: answers through deltalake, no JVM, exit code 0 run after run."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from mlplatform import tables


@pytest.fixture
def warehouse(settings, copy_testdata):
    """A warehouse with a table written here and a copy of a foreign table with deletion vectors."""
    customers = tables.table_uri(settings, "features", "customers")
    tables.write_pandas(
        pd.DataFrame({"id": ["a", "b", "c"], "visits": [1, 2, 3]}), customers, description="customer features"
    )
    tables.write_pandas(
        pd.DataFrame({"id": ["d"], "visits": [4]}), customers, metadata={"job": "ingest", "run_id": "r-2"}
    )
    tables.set_descriptions(customers, columns={"visits": "visits in 30 days"})
    import shutil

    shutil.copytree(copy_testdata("table-with-dv-small"), f"{settings.warehouse}/foreign/dv")
    return settings


def test_list_describe_history_preview(mlp, warehouse):
    listed = mlp(["tables", "list"])
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["table", "version", "partitioned", "by", "description"]
    assert any(line.split()[:2] == ["features/customers", "2"] and "customer features" in line for line in lines)
    assert any(line.split()[:2] == ["foreign/dv", "1"] for line in lines)

    described = mlp(["tables", "describe", "features/customers"])
    assert described.returncode == 0, described.stderr
    assert "rows         4 (from log stats)" in described.stdout
    assert "description  customer features" in described.stdout
    assert any(
        line.split()[:3] == ["visits", "long", "yes"] and "visits in 30 days" in line
        for line in described.stdout.splitlines()
    )

    history = mlp(["tables", "history", "features/customers", "--limit", "2"])
    assert history.returncode == 0, history.stderr
    rows = history.stdout.splitlines()[1:]
    assert [r.split()[0] for r in rows] == ["2", "1"]
    assert rows[1].split()[4:6] == ["ingest", "r-2"]

    preview = mlp(["tables", "preview", "features/customers", "--version", "0", "--columns", "visits,id"])
    assert preview.returncode == 0, preview.stderr
    assert preview.stdout.splitlines()[0].split() == ["visits", "id"]
    assert preview.stdout.strip().endswith("(3 rows)")


def test_errors_are_one_line_with_exit_code_1(mlp, warehouse):
    for args, message in [
        (["tables", "describe", "features/nope"], "does not exist"),
        (["tables", "preview", "features/customers", "--version", "7"], "has no version 7"),
        (["tables", "preview", "features/customers", "--columns", "nope"], "has no column(s) 'nope'"),
    ]:
        res = mlp(args)
        assert res.returncode == 1 and res.stderr.count("\n") == 1 and message in res.stderr, res.stderr


def test_the_cli_exits_0_twenty_times_in_a_row(mlp, warehouse):
    """docs/architecture.md hazard: deltalake's Arrow readers abort the interpreter at exit in some runs."""
    codes = [mlp(["tables", "preview", "foreign/dv"]).returncode for _ in range(20)]
    assert codes == [0] * 20
    assert "(8 rows)" in mlp(["tables", "preview", "foreign/dv"]).stdout


def test_the_cli_starts_no_jvm(warehouse):
    code = (
        "import sys\n"
        "from mlplatform.cli.main import cli\n"
        "for args in (['tables', 'list'], ['tables', 'describe', 'foreign/dv'], "
        "['tables', 'history', 'foreign/dv'], ['tables', 'preview', 'foreign/dv']):\n"
        "    cli(args, prog_name='mlp', standalone_mode=False)\n"
        "print('LOADED', sorted(m for m in ('pyspark', 'py4j', 'delta') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "LOADED []" in out
