"""Root of the ``mlp`` CLI.

Sub-commands are listed here by module path and imported only when invoked, so
``mlp --help`` starts no JVM and imports neither pyspark nor mlflow.
"""

from __future__ import annotations

import logging
import os
from importlib import import_module

import click

from mlplatform.errors import PlatformError

__all__ = ["cli", "main", "COMMANDS"]

# name -> (module, attribute, one-line help shown by `mlp --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "doctor": ("mlplatform.cli.doctor", "doctor", "Check Python, Java, Spark, Delta, MLflow and config."),
    "setup": ("mlplatform.cli.setup", "setup", "Fetch the JVM jars (Delta) into the project."),
    "config": ("mlplatform.cli.config", "config", "Show the settings in effect."),
    "submit": ("mlplatform.cli.submit", "submit", "Run a driver in jobs/ with spark-submit."),
    "env": ("mlplatform.cli.env", "env", "Model environments: lock, build, list, show, ship."),
    "serve": ("mlplatform.cli.serve", "serve", "Serve a model over HTTP locally, as its Docker image would."),
    "export": ("mlplatform.cli.export", "export", "Export a model: a Docker build context for online scoring."),
    "lineage": (
        "mlplatform.cli.lineage",
        "lineage",
        "What produced an artifact and what used it (tree, dot, svg, html).",
    ),
    "audit": ("mlplatform.cli.audit", "audit", "Who did what, when: builds, registrations, promotions, scoring."),
    "models": ("mlplatform.cli.models", "models", "Registered models: list, describe, promote, rollback, verify."),
    "keys": ("mlplatform.cli.signatures", "keys", "Ed25519 keys that sign models and environments."),
    "retrain": (
        "mlplatform.cli.retrain",
        "retrain",
        "Retrain a model, benchmark it against the champion, promote or keep.",
    ),
    "train": ("mlplatform.cli.train", "train", "Tune a model on Spark in its environment, log to MLflow, register it."),
    "tables": ("mlplatform.cli.tables", "tables", "Delta tables: list, describe, history, preview (no JVM)."),
    "hadoop": ("mlplatform.cli.hadoop", "hadoop", "One-machine Hadoop (HDFS + YARN): up, status, down, logs."),
    "features": (
        "mlplatform.cli.features",
        "features",
        "Feature sets: generate demo data, apply, ingest, list, search, describe.",
    ),
    "trainset": ("mlplatform.cli.trainset", "trainset", "Point-in-time training sets: build, rebuild, list, describe."),
    "score": ("mlplatform.cli.score", "score", "Batch-score a table with a registered model, in its environment."),
    "scores": ("mlplatform.cli.score", "scores", "Scores: list, describe, preview, features (no Spark)."),
    "ui": ("mlplatform.cli.ui", "ui", "The web catalog of every record (no JVM); approvals with --actions."),
    "monitor": (
        "mlplatform.cli.monitor",
        "monitor",
        "A model's drift, data quality and alerts: table, JSON or an offline HTML page.",
    ),
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except PlatformError as exc:
            if ctx.obj and ctx.obj.get("verbose"):
                raise
            error = click.ClickException(exc.render())
            error.exit_code = exc.exit_code  # e.g. 3 unknown id, 4 no champion, 99 no new data
            raise error from exc


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--conf",
    "conf_file",
    type=click.Path(dir_okay=False),
    help="Platform config file (else MLP_CONF, conf/platform.yaml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging and full tracebacks.")
@click.version_option(package_name="mlplatform", prog_name="mlp")
@click.pass_context
def cli(ctx: click.Context, conf_file: str | None, verbose: bool) -> None:
    """mlplatform: environments, features, training, scoring and lineage on Spark."""
    ctx.obj = {"verbose": verbose}
    if conf_file:
        os.environ["MLP_CONF"] = os.path.abspath(conf_file)
    from mlplatform.logconf import JOB_FORMAT, setup

    setup(JOB_FORMAT if verbose else "mlp: %(message)s", logging.DEBUG if verbose else logging.INFO)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="mlp")
