"""``mlp export docker``: a Docker build context for online scoring."""

from __future__ import annotations

import os

import click


@click.group()
def export() -> None:
    """Export a registered model for serving outside the platform."""


@export.command("docker")
@click.argument("ref", metavar="MODEL@ALIAS|VERSION")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory to write the build context to (new, empty, or an earlier export).",
)
def docker(ref: str, out: str) -> None:
    """Write a Docker build context (Dockerfile, model, server) for REF."""
    from mlplatform.config import load_settings
    from mlplatform.scoring.export import export_docker

    context = export_docker(ref, out, load_settings())
    click.echo(f"wrote {context}")
    click.echo(f"  docker build -t {os.path.basename(os.path.abspath(context))} {context}")
    click.echo("  docker run -p 8080:8080 <image>   # POST /invocations, GET /ping /health /version")
