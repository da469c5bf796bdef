"""``mlp serve``: run a model's scoring server locally with the image's entrypoint, or its image (``--docker``)."""

from __future__ import annotations

import os
import sys

import click


@click.command()
@click.argument("ref", metavar="MODEL@ALIAS|VERSION")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (the image binds 0.0.0.0).")
@click.option("--workers", type=click.IntRange(1), help="Worker processes (default: usable CPUs).")
@click.option("--threads", type=click.IntRange(1), help="Threads per worker (default 4; 1 selects sync workers).")
@click.option("--timeout", type=click.IntRange(1), help="Seconds before a stuck worker is restarted (default 30).")
@click.option("--max-body-bytes", type=click.IntRange(1), help="Largest request body accepted (default 8 MiB).")
@click.option(
    "--python",
    "python",
    type=click.Path(exists=True, dir_okay=False),
    help="Interpreter to run the server with (default: a venv of the image's dependency set, built once).",
)
@click.option(
    "--context",
    "context_dir",
    type=click.Path(file_okay=False),
    help="Where to write the build context (default: <home>/serving/<model>/<version>).",
)
@click.option(
    "--print", "print_only", is_flag=True, help="Write the context and print the command instead of running it."
)
@click.option(
    "--docker",
    "docker",
    is_flag=True,
    help="Build (Docker caches it) and run the model's image, --network host, read-only; Ctrl-C removes it.",
)
@click.option("--base-image", help="Base of the image with --docker (default: mlp-base:bookworm).")
def serve(
    ref: str,
    port: int,
    host: str,
    workers: int | None,
    threads: int | None,
    timeout: int | None,
    max_body_bytes: int | None,
    python: str | None,
    context_dir: str | None,
    print_only: bool,
    docker: bool,
    base_image: str | None,
) -> None:
    """Serve REF on HOST:PORT with the exported image's entrypoint (gunicorn + WSGI app)."""
    from mlplatform.config import load_settings

    options = {
        "MLP_HOST": host,
        "MLP_PORT": port,
        "MLP_WORKERS": workers,
        "MLP_THREADS": threads,
        "MLP_TIMEOUT": timeout,
        "MLP_MAX_BODY_BYTES": max_body_bytes,
    }
    variables = {k: str(v) for k, v in options.items() if v is not None}
    if docker and (python or print_only):
        raise click.UsageError("--docker runs the model's image: --python and --print do not apply to it")
    if docker:
        from mlplatform.scoring.docker_serve import serve_docker
        from mlplatform.scoring.images import BASE_IMAGE, require_engine

        require_engine()
        click.echo(f"serving {ref} from its image on http://{host}:{port} (Ctrl-C stops it)", err=True)
        sys.exit(serve_docker(ref, load_settings(), variables, base_image or BASE_IMAGE, context_dir))
    from mlplatform.scoring.export import serve_command

    command = serve_command(ref, load_settings(), variables, python=python, context=context_dir)
    if print_only:
        click.echo(command.render())
        return
    click.echo(f"serving {command.model_id} on http://{host}:{port} from {command.cwd}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(command.cwd)
    os.execve(command.argv[0], command.argv, command.env)
