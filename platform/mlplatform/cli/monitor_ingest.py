"""``mlp monitor ingest MODEL --from DIR``: a scoring server's inference-log spool into the model's Delta table."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("model")
@click.option(
    "--from",
    "directory",
    required=True,
    type=click.Path(file_okay=False),
    help="The spool folder of the model's scoring server (its MLP_LOG_DIR).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was ingested as one JSON object.")
def ingest(model: str, directory: str, as_json: bool) -> None:
    """Append MODEL's closed spool files from DIR not ingested yet (exactly once), then measure online drift."""
    from mlplatform.config import load_settings
    from mlplatform.monitoring.inference import ingest as run

    result = run(load_settings(), model, directory)
    if as_json:
        click.echo(json.dumps(result.to_dict(), default=str))
        return
    click.echo(
        f"{model}: {result.requests} request(s), {result.rows} row(s) from {len(result.files)} new file(s) "
        f"-> {result.table}" + (f" v{result.table_version}" if result.table_version is not None else "")
    )
    if result.skipped or result.open_files:
        click.echo(f"  {len(result.skipped)} file(s) ingested before, {result.open_files} still being written")
    for key, status in result.drift.items():
        version, day = key.split("/")
        click.echo(f"  online drift of version {version} on {day}: {status or 'not measured (no reference profile)'}")
