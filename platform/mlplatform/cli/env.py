"""``mlp env``: lock, build, list and use model environments."""

from __future__ import annotations

import json
import time

import click

from mlplatform.cli.signatures import env_sign, env_verify


def _settings():  # type: ignore[no-untyped-def]
    from mlplatform.config import load_settings

    return load_settings()


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


@click.group()
def env() -> None:
    """Environments: envs/<name>.yaml -> lock -> packed archive shipped with jobs."""


@env.command("lock")
@click.argument("name")
@click.option("--refresh", is_flag=True, help="Resolve again even when the lock matches the spec.")
def lock_cmd(name: str, refresh: bool) -> None:
    """Resolve NAME (envs/NAME.yaml or a path) to exact versions in envs/NAME.lock.txt."""
    from mlplatform import envs

    env_lock = envs.lock(name, refresh=refresh)
    for req in env_lock.added:
        click.echo(f"added {req} (executors need it for Arrow-based work)")
    click.echo(f"{env_lock.path}: Python {env_lock.python_version}, {len(env_lock.pins)} packages")


@env.command("build")
@click.argument("name")
@click.option("--refresh", is_flag=True, help="Resolve the lock again before building.")
def build_cmd(name: str, refresh: bool) -> None:
    """Build, pack and publish NAME; a build with the same spec and lock is reused."""
    from mlplatform import envs

    started = time.monotonic()
    artifact = envs.build(name, _settings(), refresh=refresh)
    for req in artifact.manifest.get("added", []):
        click.echo(f"added {req} (executors need it for Arrow-based work)")
    size = _mb(artifact.manifest["archive"]["size"])
    click.echo(f"{artifact.id}  {size}  {artifact.uri}  ({time.monotonic() - started:.1f} s)")


@env.command("list")
def list_cmd() -> None:
    """Specs in envs/ and the published builds."""
    from mlplatform import envs

    builds = envs.list_artifacts(_settings())
    built = {a.name for a in builds}
    for name in envs.spec_names():
        if name not in built:
            click.echo(f"{name:<32} (spec only: mlp env build {name})")
    for a in builds:
        click.echo(
            f"{a.id:<32} python {a.python_version:<8} {a.builder:<6} "
            f"{_mb(a.manifest['archive']['size']):>7}  {a.manifest['created_at']}"
        )


def _models_using(env_id: str, settings) -> list[str]:  # type: ignore[no-untyped-def]
    """Registered model versions whose ``mlp.env_id`` tag names this environment."""
    from pathlib import Path

    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return []
    from mlflow import MlflowClient

    from mlplatform.tracking.model_registry import TAG_ENV_ID

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = client.search_model_versions(f"tags.`{TAG_ENV_ID}` = '{env_id}'")
    return sorted(f"model:{v.name}@{v.version}" for v in versions)


@env.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def show_cmd(ref: str, as_json: bool) -> None:
    """Manifest and packages of REF (env:<name>@<hash12>, <name>@<hash12> or a name)."""
    from mlplatform import envs

    settings = _settings()
    artifact = envs.resolve(ref, settings)
    if as_json:
        click.echo(json.dumps(artifact.manifest, indent=2, sort_keys=True))
        return
    m = artifact.manifest
    python = m["python"]
    base = (
        "bundled in the archive"
        if python.get("bundled")
        else f"base interpreter {python['executable']} (must exist on every node)"
    )
    click.echo(f"id        {artifact.id}")
    click.echo(f"archive   {artifact.uri} ({_mb(m['archive']['size'])}, sha256 {m['archive']['sha256'][:16]}...)")
    click.echo(f"python    {artifact.python_version}, {base}")
    click.echo(f"builder   {m['builder']}, on {m['platform']['system']} {m['platform']['machine']}")
    click.echo(f"created   {m['created_at']} by {m['created_by']} in {m['build_seconds']} s")
    if m.get("added"):
        click.echo(f"added     {', '.join(m['added'])}")
    click.echo("packages")
    for name, version in sorted(artifact.packages.items()):
        click.echo(f"  {name}=={version}")
    for pin in m.get("conda_packages", []):
        click.echo(f"  conda {pin}")
    used = _models_using(artifact.id, settings)
    click.echo(f"used by   {', '.join(used) if used else 'no registered model version'}")


@env.command("create")
@click.argument("ref")
@click.option("--local", "local", is_flag=True, required=True, help="Unpack a development copy on this machine.")
@click.option("--dest", type=click.Path(file_okay=False), help="Folder (default <home>/envs/local/<name>-<hash12>).")
def create_cmd(ref: str, local: bool, dest: str | None) -> None:
    """Unpack REF as a local development environment (the same archive the executors run)."""
    from mlplatform import envs

    folder = envs.create_local(ref, dest, _settings())
    click.echo(f"{folder}\nactivate with: source {folder}/bin/activate")


@env.command("kernel")
@click.argument("ref")
def kernel_cmd(ref: str) -> None:
    """Register REF as a Jupyter kernel (runs in a local development copy)."""
    from mlplatform import envs

    spec_dir, added = envs.install_kernel(ref, _settings())
    for name in added:
        click.echo(f"installed {name} into the development copy only (not part of the environment's lock)")
    click.echo(f"kernel {spec_dir.name}: {spec_dir / 'kernel.json'}")


@env.command("dockerfile")
@click.argument("ref")
def dockerfile_cmd(ref: str) -> None:
    """Print the Dockerfile dependency layer of REF (installs exactly its lock)."""
    from mlplatform import envs

    artifact = envs.resolve(ref, _settings())
    click.echo(f"FROM {envs.docker_base_image(artifact)}")
    click.echo(envs.dockerfile_dependency_layer(artifact), nl=False)


env.add_command(env_sign)
env.add_command(env_verify)
