"""``mlp score`` (run a batch scoring job) and ``mlp scores`` (read the results, no JVM)."""

from __future__ import annotations

import click


@click.command()
@click.argument("model")
@click.option(
    "--input",
    "input_",
    required=True,
    metavar="FEATURES_OR_TABLE",
    help="Feature set (NAME, fs:NAME@vN) or a Delta table path/URI.",
)
@click.option("--run-date", default=None, metavar="YYYY-MM-DD", help="Partition to (re)write (default: today, UTC).")
@click.option(
    "--keys", default=None, metavar="A,B", help="Columns copied next to each prediction (default: entity keys)."
)
@click.option("--where", default=None, metavar="SQL", help="Spark SQL filter on the input rows.")
@click.option("--input-version", type=int, default=None, help="Delta version of the input (default: current).")
@click.option("--profile", default=None, help="Spark profile in conf/spark/ (default: spark_profile setting).")
@click.option(
    "--spark-conf",
    "spark_conf",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra Spark setting (repeatable), e.g. spark.submit.deployMode=cluster.",
)
@click.option("--summary", default=None, type=click.Path(dir_okay=False), help="Write the result as JSON here.")
@click.option("--print", "print_only", is_flag=True, help="Print the spark-submit command instead of running it.")
def score(
    model: str,
    input_: str,
    run_date: str | None,
    keys: str | None,
    where: str | None,
    input_version: int | None,
    profile: str | None,
    spark_conf: tuple[str, ...],
    summary: str | None,
    print_only: bool,
) -> None:
    """Score a table with MODEL (NAME@ALIAS or NAME@VERSION) into <warehouse>/scores/NAME.

    The alias and the input's current Delta version are resolved here, so the job
    scores exactly that model version on exactly that input snapshot, in the
    environment the version records (shipped with the job).
    """
    from mlplatform.cli.submit import parse_pairs
    from mlplatform.config import load_settings
    from mlplatform.launch.submit import run_in_place
    from mlplatform.scoring.batch import parse_run_date, resolve_input, score_command
    from mlplatform.tracking import model_registry

    settings = load_settings()
    day = parse_run_date(run_date)
    info = model_registry.resolve(model, settings)
    source = resolve_input(settings, input_, input_version)
    key_list = [k for k in keys.split(",") if k] if keys else None
    command = score_command(
        settings,
        info,
        input_,
        day,
        keys=key_list,
        where=where,
        input_version=source.version,
        summary=summary,
        profile=profile,
        spark_conf=parse_pairs(spark_conf),
    )
    if print_only:
        click.echo(command.render())
        return
    run_in_place(command)


@click.group()
def scores() -> None:
    """Read scoring results (Delta tables under <warehouse>/scores/) without Spark."""


@scores.command("list")
@click.argument("model", required=False)
def list_(model: str | None) -> None:
    """Scored models, or with MODEL its run dates (rows, model version, run id)."""
    from mlplatform.scoring import results

    if model is None:
        frame = results.tables_summary()
        if frame.empty:
            click.echo("no scores tables yet (run 'mlp score MODEL --input ...')")
            return
    else:
        frame = results.runs(model)
    click.echo(frame.to_string(index=False))


@scores.command()
@click.argument("model")
def describe(model: str) -> None:
    """Table location, version, columns and recent commits of MODEL's scores."""
    from mlplatform.scoring import results

    info = results.describe(model)
    click.echo(f"table:    {info['table']}")
    click.echo(f"version:  {info['version']}  ({info['id']})")
    click.echo(f"rows:     {info['rows']} in {info['run_dates']} run date(s)")
    click.echo("columns:  " + ", ".join(f"{c['name']}:{c['type']}" for c in info["columns"]))
    click.echo("commits:")
    for entry in info["history"]:
        click.echo(
            f"  v{entry['version']}  {entry['timestamp']}  {entry['operation']:<8} {entry.get('run_date') or ''}  "
            f"{entry.get('model') or ''}  {entry.get('run_id') or ''}"
        )


@scores.command()
@click.argument("model")
@click.option("--run-date", default=None, metavar="YYYY-MM-DD", help="Run date (default: the latest).")
@click.option("-n", "--limit", default=10, show_default=True, help="Rows to show.")
def preview(model: str, run_date: str | None, limit: int) -> None:
    """The first rows of MODEL's scores for a run date."""
    import pandas as pd

    from mlplatform.scoring import results

    frame = results.read(model, run_date=run_date, limit=limit)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        click.echo(frame.to_string(index=False) if not frame.empty else "(no rows)")


__all__ = ["score", "scores"]
