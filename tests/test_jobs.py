"""The spark-submit drivers: short, run through one runner, installed with the platform, found from any project."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlplatform.errors import EXIT_NOT_FOUND, PlatformError, SubmitError
from mlplatform.launch import jobrun
from mlplatform.launch.submit import job_path, platform_jobs_dir

JOBS = ["build_features", "build_trainset", "probe", "retrain", "score", "tune"]

# not from conftest: collected beside the sub-folders' conftest modules, that name is ambiguous here
REPO = Path(__file__).resolve().parents[1]


class _NotThere(PlatformError):
    exit_code = EXIT_NOT_FOUND


@dataclass(frozen=True)
class _Outcome:
    model: str
    decision: str

    def lines(self) -> list[str]:
        return [f"{self.model}: {self.decision}"]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder holding only conf/ and envs/ (no jobs/), as MLP_PROJECT."""
    folder = tmp_path / "project"
    shutil.copytree(REPO / "conf", folder / "conf")
    shutil.copytree(REPO / "envs", folder / "envs")
    monkeypatch.setenv("MLP_PROJECT", str(folder))
    monkeypatch.setenv("MLP_JARS_DIR", str(REPO / ".mlp" / "jars"))  # the fetched jars stay in the repo's cache
    return folder


def test_every_job_is_at_most_30_lines_and_goes_through_the_runner():
    found = sorted(p.stem for p in (REPO / "jobs").glob("*.py") if not p.stem.startswith("_"))
    assert found == JOBS
    for name in JOBS:
        path = REPO / "jobs" / f"{name}.py"
        lines = int(
            subprocess.run(["wc", "-l", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]
        )
        assert lines <= 30, f"{path} has {lines} lines"
        assert path.read_text().count("jobrun.run(") == 1, path


def test_the_platforms_jobs_are_installed_with_the_package():
    installed = platform_jobs_dir()
    assert sorted(p.stem for p in installed.glob("*.py") if not p.stem.startswith("_")) == JOBS
    assert installed.resolve() == (REPO / "jobs").resolve()  # the editable install maps mlplatform.jobs to jobs/


def test_a_project_with_only_conf_and_envs_submits_the_platforms_jobs(project: Path, mlp):
    platform = platform_jobs_dir().resolve()
    for args, job in ((["score", "churn@1", "--input", "churn_features"], "score"), (["probe"], "probe")):
        res = mlp(["submit", "--print", *args], cwd=project)
        assert res.returncode == 0, res.stderr
        assert str(platform / f"{job}.py") in res.stdout, res.stdout


def test_a_projects_own_job_is_found_and_preferred(project: Path):
    (project / "jobs").mkdir()
    for name in ("probe", "nightly_report"):
        (project / "jobs" / f"{name}.py").write_text("print('mine')\n")
    assert job_path("probe") == project / "jobs" / "probe.py"
    assert job_path("nightly_report") == project / "jobs" / "nightly_report.py"
    assert job_path("score") == platform_jobs_dir().resolve() / "score.py"
    with pytest.raises(SubmitError, match="job 'nope' not found") as err:
        job_path("nope")
    assert "project: nightly_report, probe; platform: " + ", ".join(JOBS) in err.value.render()


def test_an_unknown_job_is_one_line_naming_where_it_looked_and_the_known_jobs(project: Path, mlp):
    res = mlp(["submit", "--print", "no_such_job"], cwd=project)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]
    message = res.stderr.strip()
    assert "job 'no_such_job' not found in " + str(project / "jobs") in message
    assert str(platform_jobs_dir().resolve()) in message and ", ".join(JOBS) in message
    assert "add " + str(project / "jobs" / "no_such_job.py") in message


@pytest.fixture
def runner_env(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Spark stops the runner makes, recorded instead of done: a running session is the test run's shared one."""
    from pyspark.sql import SparkSession

    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)  # logconf.setup sets it; restored after
    stopped: list[str] = []
    monkeypatch.setattr(SparkSession, "stop", lambda self: stopped.append(self.sparkContext.applicationId))
    return stopped


def test_runner_maps_a_platform_error_to_its_exit_code_and_summary(runner_env, tmp_path: Path, caplog):
    summary = tmp_path / "summary.json"

    def job() -> None:
        raise _NotThere("model 'x' not found", "register it")

    with caplog.at_level(logging.INFO):
        assert jobrun.run("demo", job, summary=str(summary)) == 3
    assert json.loads(summary.read_text()) == {
        "ok": False,
        "error": "model 'x' not found — register it",
        "exit_code": 3,
    }
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [(r.name, r.getMessage()) for r in errors] == [("mlp.jobs.demo", "model 'x' not found — register it")]


def test_runner_logs_an_outcome_and_writes_summary_and_stdout(runner_env, tmp_path: Path, caplog, capsys):
    summary = tmp_path / "summary.json"
    with caplog.at_level(logging.INFO):
        assert jobrun.run("demo", lambda: _Outcome("churn", "kept"), summary=str(summary)) == 0
    assert json.loads(summary.read_text()) == {"ok": True, "model": "churn", "decision": "kept"}
    assert ("mlp.jobs.demo", "churn: kept") in [(r.name, r.getMessage()) for r in caplog.records]
    result = jobrun.JobResult(summary={"rows": 3}, stdout=['{"rows": 3}'], exit_code=2)
    assert jobrun.run("demo", lambda: result, summary=str(summary)) == 2
    assert json.loads(summary.read_text()) == {"ok": False, "rows": 3}
    assert capsys.readouterr().out == '{"rows": 3}\n'


def test_runner_stops_the_jobs_spark_session_on_every_path(runner_env: list[str], spark):
    from pyspark.sql import SparkSession

    stopped = runner_env

    def job() -> None:
        SparkSession.builder.getOrCreate().range(3).count()  # the job's session (get-or-create: the shared one)

    def failing() -> None:
        job()
        raise _NotThere("gone")

    def crashing() -> None:
        job()
        raise RuntimeError("boom")

    assert jobrun.run("demo", job) == 0
    assert jobrun.run("demo", failing) == 3
    with pytest.raises(RuntimeError, match="boom"):
        jobrun.run("demo", crashing)
    assert stopped == [spark.sparkContext.applicationId] * 3


def test_runner_does_not_import_pyspark_for_a_job_without_spark():
    code = (
        "import sys; from mlplatform.launch import jobrun; "
        "print(jobrun.run('demo', lambda: None), 'pyspark' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0", "False"]
