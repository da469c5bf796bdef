"""``mlp keys generate``, ``mlp models sign | verify`` and ``mlp env sign | verify``: signed artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def _enforcing() -> Any:
    """The settings in effect, verifying whatever ``verify`` says: an explicit check is never off or a warning.

    A bad trust file is reported before anything is looked up.
    """
    from mlplatform.config import load_settings
    from mlplatform.signing import trusted_keys

    settings = load_settings().model_copy(update={"verify": "enforce"})
    trusted_keys(settings)
    return settings


@click.group()
def keys() -> None:
    """Ed25519 keys that sign models and environments."""


@keys.command("generate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Name of the key in the trust file, e.g. release.")
@click.option(
    "--trust",
    "trust",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Trust file to add the public key to (created when missing).",
)
def generate_cmd(path: Path, name: str, trust: Path | None) -> None:
    """Write a private key to PATH (mode 0600) and its public key to PATH.pub."""
    from mlplatform.signing import generate

    key = generate(path, name, trust)
    click.echo(f"key {name} ({key}): private {path}, public {path}.pub" + (f", trusted in {trust}" if trust else ""))
    click.echo(f"sign with it: signing_key: {path}" + (f"; verify with: trusted_keys: {trust}" if trust else ""))


@click.command("sign")
@click.argument("ref", metavar="MODEL@ALIAS|VERSION")
def model_sign(ref: str) -> None:
    """Sign a registered version's model directory with signing_key (training signs new versions)."""
    from mlplatform.config import load_settings
    from mlplatform.signing import require_key
    from mlplatform.tracking.model_registry import resolve, sign_version

    settings = load_settings()
    require_key(settings)
    info = resolve(ref, settings)
    click.echo(f"signed {info.id} with key {sign_version(info, settings)}")


@click.command("verify")
@click.argument("ref", metavar="MODEL@ALIAS|VERSION")
def model_verify(ref: str) -> None:
    """Check every file of a version's model directory against its signature and the trust file."""
    import tempfile

    from mlplatform.tracking.model_registry import download, resolve, verify_dir

    settings = _enforcing()
    info = resolve(ref, settings)
    with tempfile.TemporaryDirectory(prefix="mlp-verify-") as tmp:
        verified = verify_dir(info, download(info, Path(tmp) / "model", settings), settings)
    click.echo(f"verified: {verified.describe() if verified else info.id}, every file of its model directory")


@click.command("sign")
@click.argument("ref")
def env_sign(ref: str) -> None:
    """Sign a published environment (manifest, spec, lock and so its archive) with signing_key."""
    from mlplatform.config import load_settings
    from mlplatform.envs.artifacts import resolve, sign_published
    from mlplatform.signing import require_key

    settings = load_settings()
    require_key(settings)
    artifact = resolve(ref, settings)
    click.echo(f"signed {artifact.id} with key {sign_published(artifact, settings)}")


@click.command("verify")
@click.argument("ref")
def env_verify(ref: str) -> None:
    """Check a published environment's signature, then its archive's sha256."""
    from mlplatform.envs.artifacts import resolve, verify_archive

    settings = _enforcing()
    verified = verify_archive(resolve(ref, settings), settings)
    click.echo(f"verified: {verified.describe() if verified else ref}, archive included")
