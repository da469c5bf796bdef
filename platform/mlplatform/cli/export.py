"""``mlp export docker`` / ``mlp export base-image``: a hermetic Docker build context for online scoring."""

from __future__ import annotations

import click

from mlplatform.scoring.images import BASE_IMAGE


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
@click.option(
    "--base-image",
    default=BASE_IMAGE,
    show_default=True,
    help="Image the environment sits on (make the default with: mlp export base-image).",
)
@click.option("--build", "build", is_flag=True, help="Also build the image (docker build --network none).")
@click.option("--tag", help="Tag of the built image (default: mlp-<model>:<version>).")
def docker(ref: str, out: str, base_image: str, build: bool, tag: str | None) -> None:
    """Write a Docker build context (Dockerfile, model, server, wheels or archive) for REF."""
    from mlplatform.config import load_settings
    from mlplatform.scoring.export import export_docker
    from mlplatform.scoring.images import build_image, image_tag

    context = export_docker(ref, out, load_settings(), base_image)
    click.echo(f"wrote {context}")
    if build:
        click.echo(f"built {build_image(context, tag)}")
        return
    click.echo(f"  docker build --network none -t {tag or image_tag(context)} {context}")
    click.echo("  docker run --read-only --tmpfs /tmp -p 8080:8080 <image>   # POST /invocations, GET /ping /health")


@export.command("base-image")
@click.option("--tag", default=BASE_IMAGE, show_default=True, help="Tag of the imported image.")
@click.option("--refresh", is_flag=True, help="Import it again even if the engine has it.")
def base_image(tag: str, refresh: bool) -> None:
    """Build the default base image from Debian packages (debootstrap bookworm + python3) and docker-import it."""
    from mlplatform.config import load_settings
    from mlplatform.scoring.images import build_base_image

    click.echo(f"base image {build_base_image(load_settings(), tag, refresh)}")
