"""``mlp ui``: the read-only web catalog over this platform home."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8800, show_default=True, help="Port (0: any free one).")
def ui(host: str, port: int) -> None:
    """Browse feature sets, training sets, models, environments, scores, lineage and audit (read-only)."""
    from mlplatform.catalog.serve import serve
    from mlplatform.config import load_settings

    serve(load_settings(), host=host, port=port)
