from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO
from deltalake import DeltaTable

from mlplatform.errors import SparkSetupError, SubmitError
from mlplatform.launch.profiles import load_profile
from mlplatform.launch.submit import build_submit


def test_profiles_parse():
    for name in ("local", "local-cluster", "yarn"):
        assert load_profile(name)["spark.master"]


def test_unknown_profile_lists_known_ones():
    with pytest.raises(SparkSetupError, match="'nope' not found.*local-cluster"):
        load_profile("nope")


def test_session_writes_delta_readable_without_spark(spark, tmp_path: Path):
    path = str(tmp_path / "t")
    spark.range(5).write.format("delta").save(path)
    assert spark.read.format("delta").load(path).count() == 5
    dt = DeltaTable(path)
    assert dt.version() == 0 and len(dt.file_uris()) >= 1


def test_submit_line_carries_profile_jars_and_platform_code(settings):
    cmd = build_submit(settings, "probe", ["--tasks", "2"], profile="local-cluster")
    argv = cmd.argv
    assert argv[argv.index("--master") + 1] == "local-cluster[2,1,1024]"
    assert "delta-spark_2.13" in argv[argv.index("--jars") + 1]
    assert argv[argv.index("--py-files") + 1].endswith(".zip")
    assert argv[-3:] == [str(REPO / "jobs" / "probe.py"), "--tasks", "2"]
    assert cmd.env["MLP_SPARK_PROFILE"] == "local-cluster"


def test_yarn_without_hadoop_conf_is_refused(settings, monkeypatch):
    monkeypatch.delenv("HADOOP_CONF_DIR", raising=False)
    with pytest.raises(SubmitError, match="HADOOP_CONF_DIR is not set"):
        build_submit(settings, "probe", profile="yarn")


@pytest.mark.slow
def test_probe_job_runs_on_separate_executor_jvms(mlp, mlp_home: Path, tmp_path: Path):
    out = tmp_path / "probe.jsonl"
    res = mlp(["submit", "--profile", "local-cluster", "probe", "--tasks", "2", "--out", str(out)])
    assert res.returncode == 0, res.stderr[-3000:]
    reports = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(reports) == 2
    work = str(mlp_home / "spark-home" / "work")
    assert all(r["cwd"].startswith(work) for r in reports)
    assert len({r["cwd"] for r in reports}) == 2
