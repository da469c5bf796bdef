"""``mlp lineage ID``: what produced an artifact and what used it."""

from __future__ import annotations

import re
from pathlib import Path

import click

_PICTURES = ("svg", "html")


def _resolve_model_alias(artifact_id: str, settings: object) -> str:
    """``model:NAME@ALIAS`` -> ``model:NAME@VERSION`` through the registry; other ids unchanged."""
    kind, _, rest = artifact_id.partition(":")
    name, _, selector = rest.rpartition("@")
    if kind != "model" or not name or selector.isdigit() or selector == "latest":
        return artifact_id
    from mlplatform.lifecycle.models import champion_version

    return f"model:{name}@{champion_version(name, settings, alias=selector)}"  # type: ignore[arg-type]


@click.command()
@click.argument("artifact_id", metavar="ID")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tree", "dot", "svg", "html", "json"]),
    default="tree",
    show_default=True,
    help="Terminal tree, Graphviz DOT, SVG, a self-contained HTML page, or JSON.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE (svg/html default: ./lineage-<id>.<format>).",
)
@click.option("--depth", type=click.IntRange(min=1), help="Follow at most N edges each way.")
@click.option(
    "--engine",
    type=click.Choice(["auto", "dot", "builtin"]),
    default="auto",
    show_default=True,
    help="SVG layout: Graphviz dot when installed, else built in.",
)
def lineage(artifact_id: str, fmt: str, output: Path | None, depth: int | None, engine: str) -> None:
    """Walk upstream and downstream from ID and draw the result.

    ID is env:NAME@HASH, fs:NAME@vN, ts:NAME@vN, model:NAME@VERSION|ALIAS,
    scores:MODEL@vN or code:VERSION; @latest picks the newest recorded version.

    \b
    Examples:
      mlp lineage scores:churn@v3
      mlp lineage model:churn@champion --format html -o churn.html
      mlp lineage fs:activity@latest --format svg
    """
    from mlplatform.config import load_settings
    from mlplatform.lineage.graph import check_id, load_graph
    from mlplatform.lineage.render import render

    settings = load_settings()
    wanted = _resolve_model_alias(check_id(artifact_id), settings)
    graph = load_graph(settings)
    walk = graph.walk(graph.latest(wanted), depth=depth)
    text = render(walk, fmt, engine)
    if output is None and fmt in _PICTURES:
        output = Path(f"lineage-{re.sub(r'[^A-Za-z0-9_.-]+', '_', walk.root)}.{fmt}")
    if output is None:
        click.echo(text.rstrip("\n"))
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    click.echo(
        f"{walk.root}: {len(walk.upstream)} upstream, {len(walk.downstream)} downstream edge(s) -> {output.resolve()}"
    )
