"""``mlp train MODEL``: tune, refit, log and register a model from its spec."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("model")
@click.option(
    "--training-set-version",
    type=int,
    help="Train on this version of the training set (default: the spec's, else latest).",
)
@click.option("--code-version", help="Code version to record (default: git commit of the project).")
@click.option("--env", "env", help="Environment name or id overriding the spec's env.")
@click.option("--profile", help="Spark profile in conf/spark/ (default: spark_profile setting).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def train(
    ctx: click.Context,
    model: str,
    training_set_version: int | None,
    code_version: str | None,
    env: str | None,
    profile: str | None,
    as_json: bool,
) -> None:
    """Tune MODEL (conf/models/MODEL.yaml or a spec file) on Spark and register it if it clears every bar.

    Exits 2 when a threshold is missed (the MLflow run is kept, nothing is registered).
    """
    from dataclasses import asdict

    from mlplatform.errors import EXIT_THRESHOLD_MISSED
    from mlplatform.training.train import summary_lines
    from mlplatform.training.train import train as run

    result = run(model, training_set_version=training_set_version, code_version=code_version, env=env, profile=profile)
    if result.misses:
        for line in summary_lines(result):
            click.echo(line, err=True)
        click.echo(f"Error: {result.threshold_message()}", err=True)
        ctx.exit(EXIT_THRESHOLD_MISSED)
    if as_json:
        click.echo(json.dumps({**asdict(result), "model_id": result.model_id}, default=str, indent=1))
        return
    for line in summary_lines(result):
        click.echo(line)
