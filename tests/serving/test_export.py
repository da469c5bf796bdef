"""The Docker build context: Dockerfile structure, files, dependency set, CLI and refusals.

The context is checked here by parsing it; ``test_context_venv.py`` runs its entrypoint
in a venv of its dependency set, and ``test_docker_image.py`` (``docker`` tier) builds
and runs the image with a real engine.
"""

from __future__ import annotations

import ast
import json
import shlex
import sys
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from mlplatform.scoring.export import ENTRYPOINT

ALLOWED_IMPORTS = set(sys.stdlib_module_names) | {"numpy", "pandas", "cloudpickle"}


def instructions(context: Path) -> list[tuple[str, str]]:
    parser = DockerfileParser(fileobj=open(context / "Dockerfile", "rb"))
    return [(s["instruction"], s["value"]) for s in parser.structure if s["instruction"] != "COMMENT"]


def copy_sources(value: str) -> list[str]:
    parts = json.loads(value) if value.startswith("[") else [p for p in shlex.split(value) if not p.startswith("--")]
    return parts[:-1]


def test_dockerfile_parses_and_has_the_required_parts(context, store):
    from mlplatform import envs
    from mlplatform.scoring.images import BASE_IMAGE

    parser = DockerfileParser(fileobj=open(context / "Dockerfile", "rb"))
    artifact = envs.resolve(store.env_id, _settings(store))
    assert parser.baseimage == BASE_IMAGE
    steps = instructions(context)
    assert [v for i, v in steps if i == "FROM"] == [f"{BASE_IMAGE} AS env", BASE_IMAGE]
    users = [v for i, v in steps if i == "USER"]
    assert users[-1] == "10001:10001"
    assert any("useradd" in v and "--uid 10001" in v for i, v in steps if i == "RUN")
    healthcheck = [v for i, v in steps if i == "HEALTHCHECK"]
    assert len(healthcheck) == 1 and "/ping" in healthcheck[0] and "CMD" in healthcheck[0]
    assert json.loads(parser.cmd) == list(ENTRYPOINT)
    assert [v for i, v in steps if i == "WORKDIR"] == ["/app"]
    assert parser.labels == {
        "org.mlplatform.model.id": f"model:{store.name}@{store.version}",
        "org.mlplatform.env.id": store.env_id,
        "org.mlplatform.env.sha256": artifact.sha256,
    }


def test_dockerfile_references_only_files_in_the_context(context):
    sources = [
        src
        for i, v in instructions(context)
        if i in ("COPY", "ADD") and not v.startswith("--from=")
        for src in copy_sources(v)
    ]
    assert sources, "no COPY instruction"
    for src in sources:
        assert (context / src).exists(), f"COPY {src} is not in the context"
    assert (context / "model" / "MLmodel").is_file() and (context / "model" / "model.pkl").is_file()
    copied = {Path(s).as_posix().rstrip("/") for s in sources}
    assert {"model", "serving.json", "mlp_scoring_server.py", "gunicorn.conf.py", "wheels"} <= copied


def test_dockerfile_installs_exactly_the_env_lock_plus_gunicorn_from_hashed_wheels(context, store):
    from importlib.metadata import version

    from packaging.utils import parse_wheel_filename

    from mlplatform import envs
    from mlplatform.files import sha256_file

    artifact = envs.resolve(store.env_id, _settings(store))
    lock = {f"{name}=={v}" for name, v in artifact.packages.items()}
    runs = " ".join(v for i, v in instructions(context) if i == "RUN")
    assert "--no-index" in runs and "--require-hashes" in runs and "--no-deps" in runs
    server = (context / "requirements.server.txt").read_text().split()
    assert server == [f"gunicorn=={version('gunicorn')}"]
    assert set((context / "requirements.lock.txt").read_text().split()) == lock
    hashed = dict(
        line.split(" --hash=sha256:") for line in (context / "wheels/requirements.txt").read_text().splitlines()
    )
    assert set(hashed) == lock | set(server)
    wheels = {parse_wheel_filename(p.name)[:2]: p for p in (context / "wheels").glob("*.whl")}
    assert len(wheels) == len(hashed)
    for pin, digest in hashed.items():
        name, _, pinned = pin.partition("==")
        wheel = next(p for (n, v), p in wheels.items() if n == name and str(v) == pinned)
        assert sha256_file(wheel) == digest, pin
    everything = " ".join([runs, *hashed]).lower()
    for banned in ("mlflow", "flask", "pyspark", "mlplatform"):
        assert banned not in everything


def test_serving_config_names_model_version_env_and_signature(context, store):
    config = json.loads((context / "serving.json").read_text())
    assert (config["model_name"], config["model_version"], config["env_id"]) == (
        store.name,
        store.version,
        store.env_id,
    )
    assert [(c["name"], c["type"]) for c in config["inputs"]] == [
        ("amount", "double"),
        ("visits", "long"),
        ("city", "string"),
        ("member", "boolean"),
    ]
    assert config["model_file"] == "model.pkl" and config["predict_fn"] == "predict"


def test_server_module_imports_only_stdlib_numpy_pandas_cloudpickle(context):
    from mlplatform.scoring.export import SERVER_HELPERS

    here = Path(__import__("mlplatform.scoring.server").scoring.server.__file__).parent
    helpers = {name.removesuffix(".py") for name in SERVER_HELPERS.values()}
    for source_file, copied in {"server.py": "mlp_scoring_server.py", **SERVER_HELPERS}.items():
        source = (context / copied).read_text()
        assert source == (here / source_file).read_text()
        imported = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
        assert imported <= ALLOWED_IMPORTS | helpers, (copied, imported - ALLOWED_IMPORTS)


def _settings(store):
    from mlplatform.config import load_settings

    return load_settings(environ=store.env)


def test_cli_export_writes_a_context(mlp, store, tmp_path):
    out = tmp_path / "ctx"
    res = mlp(["export", "docker", f"{store.name}@{store.version}", "--out", str(out)], env=store.env)
    assert res.returncode == 0, res.stderr
    assert f"wrote {out}" in res.stdout and "docker build" in res.stdout
    assert json.loads((out / "serving.json").read_text())["model_version"] == store.version


def test_cli_export_of_an_unknown_model_fails_in_one_line(mlp, store, tmp_path):
    res = mlp(["export", "docker", "no_such_model@champion", "--out", str(tmp_path / "ctx")], env=store.env)
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert (
        "model:no_such_model@champion does not exist" in res.stderr and "no model named 'no_such_model'" in res.stderr
    )
    assert not (tmp_path / "ctx").exists()


def test_cli_serve_print_shows_the_image_entrypoint(mlp, store, tmp_path):
    res = mlp(
        [
            "serve",
            store.ref,
            "--port",
            "9123",
            "--workers",
            "3",
            "--context",
            str(tmp_path / "c"),
            "--python",
            sys.executable,
            "--print",
        ],
        env=store.env,
    )
    assert res.returncode == 0, res.stderr
    line = res.stdout.strip()
    assert line.startswith(f"cd {tmp_path / 'c'} && ") and "MLP_PORT=9123" in line and "MLP_WORKERS=3" in line
    assert line.endswith(shlex.join([sys.executable, *ENTRYPOINT[1:]]))


def test_cli_serve_docker_refuses_python_and_print(mlp, store):
    res = mlp(["serve", "--docker", store.ref, "--print"], env=store.env)
    assert res.returncode == 2 and "--docker runs the model's image: --python and --print do not apply" in res.stderr


def test_export_rewrites_an_earlier_context_and_leaves_no_staging_folder(use_store, tmp_path):
    from mlplatform.config import load_settings
    from mlplatform.scoring.export import export_docker

    out = tmp_path / "exports" / "ctx"
    for ref in (use_store.ref, f"{use_store.name}@{use_store.version}"):
        assert export_docker(ref, out, load_settings()) == out
    assert sorted(p.name for p in out.parent.iterdir()) == ["ctx"]


def test_export_refuses_an_out_dir_that_is_not_a_context(use_store, tmp_path):
    from mlplatform.config import load_settings
    from mlplatform.errors import ScoringError
    from mlplatform.scoring.export import export_docker

    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(ScoringError, match="is not an export context"):
        export_docker(use_store.ref, tmp_path / "taken", load_settings())
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ScoringError, match="is not an export context"):
        export_docker(use_store.ref, tmp_path / "file", load_settings())


def _register(name: str, frame, env_id: str | None) -> None:
    from serving_support import register, train_pipeline

    from mlplatform.config import load_settings
    from mlplatform.tracking.store import experiment_id

    register(
        name, train_pipeline(frame), frame, env_id, experiment_id("serving-tests", load_settings()), ["scikit-learn"]
    )


def test_export_refuses_a_model_without_env_id(use_store, tmp_path):
    from mlplatform.config import load_settings
    from mlplatform.errors import ScoringError
    from mlplatform.scoring.export import export_docker

    _register("no_env", use_store.frame, None)
    with pytest.raises(ScoringError, match=r"model:no_env@1 has no environment id \(tag mlp.env_id\)"):
        export_docker("no_env@1", tmp_path / "ctx", load_settings())
    assert not (tmp_path / "ctx").exists()


def test_export_refuses_a_model_with_an_unpublished_env(use_store, tmp_path):
    from mlplatform.config import load_settings
    from mlplatform.errors import EnvError
    from mlplatform.scoring.export import export_docker

    _register("lost_env", use_store.frame, "env:serving-test@000000000000")
    with pytest.raises(EnvError, match="env:serving-test@000000000000 is not published"):
        export_docker("lost_env@1", tmp_path / "ctx", load_settings())
    assert not (tmp_path / "ctx").exists()


def _edited_context(context: Path, tmp_path: Path, **changes) -> Path:
    import shutil

    copy = tmp_path / "ctx"
    shutil.copytree(context, copy)
    config = json.loads((copy / "serving.json").read_text())
    (copy / "serving.json").write_text(json.dumps({**config, **changes}))
    return copy


def test_context_venv_refuses_a_conda_env_and_a_wrong_python(context, tmp_path):
    from mlplatform.errors import ScoringError
    from mlplatform.scoring.export import context_venv

    conda = _edited_context(context, tmp_path / "a", env_builder="conda")
    with pytest.raises(ScoringError, match="conda environment .* which pip cannot rebuild"):
        context_venv(conda, tmp_path / "venvs")
    future = _edited_context(context, tmp_path / "b", python_version="3.99")
    with pytest.raises(ScoringError, match=r"needs Python 3\.99"):
        context_venv(future, tmp_path / "venvs", python=sys.executable)
    assert not (tmp_path / "venvs").exists() or not any((tmp_path / "venvs").iterdir())


def test_an_env_that_carries_its_interpreter_is_unpacked_from_its_archive_with_its_sha256_checked(
    context, store, tmp_path
):
    from dataclasses import replace

    from mlplatform.scoring.export import DependencySet, render_dockerfile

    config = json.loads((context / "serving.json").read_text())
    deps = DependencySet(
        store.env_id, "3.11.7", "mlp-base:bare", ("numpy==2.0.0",), "portable", True, "/a/env.tar.gz", "ab" * 32
    )
    text = render_dockerfile(config, deps, ("gunicorn==23.0.0",))
    parser = DockerfileParser(path=str(tmp_path / "Dockerfile"))
    parser.content = text
    runs = " ".join(s["value"] for s in parser.structure if s["instruction"] == "RUN")
    assert f'echo "{"ab" * 32}  /tmp/env.tar.gz" | sha256sum --check' in runs
    assert "tar -xzf /tmp/env.tar.gz -C /opt/mlp/env" in runs and "pip" not in runs and "python3" not in runs
    assert parser.envs["PYTHONPATH"] == "/opt/mlp/server" and parser.baseimage == "mlp-base:bare"
    venv_text = render_dockerfile(config, replace(deps, bundled=False, builder="venv"), ())
    assert "env.tar.gz" not in venv_text and "--require-hashes" in venv_text
