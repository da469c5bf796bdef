"""``mlp env`` through the real console script."""

from __future__ import annotations

import json

import pytest
from conftest import run_mlp

pytestmark = pytest.mark.slow


def _env(built_env) -> dict[str, str]:
    return {"MLP_ARTIFACTS": str(built_env.artifacts_root)}


def test_build_of_a_built_spec_is_cached(built_env):
    result = run_mlp(["env", "build", str(built_env.spec_path)], env=_env(built_env))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith(f"{built_env.id}  ")
    assert "is already built" in result.stderr


def test_lock_reports_the_added_arrow_packages(built_env):
    result = run_mlp(["env", "lock", str(built_env.spec_path)], env=_env(built_env))
    assert result.returncode == 0, result.stderr
    assert "added pyarrow" in result.stdout and "Python 3.11" in result.stdout


def test_list_and_show(built_env):
    listed = run_mlp(["env", "list"], env=_env(built_env))
    assert listed.returncode == 0, listed.stderr
    assert built_env.id in listed.stdout
    assert "sklearn" in listed.stdout  # the shipped spec, built or not
    shown = run_mlp(["env", "show", built_env.id], env=_env(built_env))
    assert shown.returncode == 0, shown.stderr
    assert f"scikit-learn=={built_env.artifact.packages['scikit-learn']}" in shown.stdout
    assert "must exist on every node" in shown.stdout
    assert "used by   no registered model version" in shown.stdout
    as_json = run_mlp(["env", "show", "--json", built_env.artifact.name], env=_env(built_env))
    assert json.loads(as_json.stdout)["id"] == built_env.id


def test_dockerfile_prints_a_complete_stage(built_env):
    result = run_mlp(["env", "dockerfile", built_env.id], env=_env(built_env))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"FROM python:{built_env.artifact.python_version}-slim\n")


def test_errors_are_one_line_and_exit_1(built_env):
    result = run_mlp(["env", "show", "env:mlptest@000000000000"], env=_env(built_env))
    assert result.returncode == 1
    assert result.stderr.startswith("Error: environment env:mlptest@000000000000 is not published")
    result = run_mlp(["env", "build", "no-such-env"])
    assert result.returncode == 1 and "has no spec" in result.stderr


def test_show_lists_the_model_versions_that_use_it(built_env, settings):
    from mlflow import MlflowClient

    uri = settings.mlflow_tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("demo")
    run = client.create_run(client.create_experiment("e", artifact_location=settings.mlflow_artifact_root)).info.run_id
    for env_id in (built_env.id, "env:other@0123456789ab", built_env.id):
        client.create_model_version(
            "demo", source=f"{settings.mlflow_artifact_root}/x", run_id=run, tags={"mlp.env_id": env_id}
        )
    shown = run_mlp(["env", "show", built_env.id], env=_env(built_env))
    assert shown.returncode == 0, shown.stderr
    assert "used by   model:demo@1, model:demo@3" in shown.stdout


@pytest.mark.timeout(900)
def test_kernel_runs_in_a_development_copy(built_env, tmp_path):
    result = run_mlp(
        ["env", "kernel", built_env.id], env={**_env(built_env), "JUPYTER_DATA_DIR": str(tmp_path / "jupyter")}
    )
    assert result.returncode == 0, result.stderr
    assert "installed ipykernel into the development copy only" in result.stdout
    kernel = json.loads(
        (tmp_path / "jupyter" / "kernels" / f"mlp-mlptest-{built_env.artifact.hash}" / "kernel.json").read_text()
    )
    assert kernel["metadata"]["mlp_env"] == built_env.id
    import subprocess

    python = kernel["argv"][0]
    out = subprocess.run(
        [python, "-c", "import ipykernel, sklearn; print(sklearn.__version__)"], capture_output=True, text=True
    )
    assert out.stdout.strip() == built_env.artifact.packages["scikit-learn"], out.stderr
    launcher = subprocess.run(
        [python, "-m", "ipykernel_launcher", "--help"], capture_output=True, text=True, timeout=120
    )
    assert launcher.returncode == 0
