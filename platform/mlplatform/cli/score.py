"""``mlp score`` (run a batch scoring job) and ``mlp scores`` (read the results, no JVM)."""

from __future__ import annotations

import click


@click.command()
@click.argument("model")
@click.option("--run-date", default=None, metavar="YYYY-MM-DD", help="Partition to (re)write (default: today, UTC).")
@click.option(
    "--input",
    "input_",
    default=None,
    metavar="FEATURES_OR_TABLE",
    help="Score this prepared table (feature set NAME, fs:NAME@vN or a Delta path) instead of the model's features.",
)
@click.option("--keys", default=None, metavar="A,B", help="With --input: columns copied next to each prediction.")
@click.option("--where", default=None, metavar="SQL", help="With --input: Spark SQL filter on the input rows.")
@click.option("--input-version", type=int, default=None, help="With --input: its Delta version (default: current).")
@click.option("--entities", default=None, metavar="TABLE", help="Entities to score: a Delta table or feature set.")
@click.option("--entities-where", default=None, metavar="SQL", help="SQL filter on the entity table.")
@click.option("--as-of", default=None, metavar="TIME", help="Look features up at TIME (default: end of the run date).")
@click.option("--engine", type=click.Choice(["auto", "pandas", "spark"]), default="auto", help="Point-in-time join.")
@click.option("--allow-definition-change", is_flag=True, help="Score although a feature set's definition changed.")
@click.option("--max-staleness", default=None, metavar="DURATION", help="Oldest a feature set's newest row may be.")
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
    input_: str | None,
    keys: str | None,
    profile: str | None,
    spark_conf: tuple[str, ...],
    summary: str | None,
    print_only: bool,
    **options: object,
) -> None:
    """Score MODEL (NAME@ALIAS or NAME@VERSION) into <warehouse>/scores/NAME for a run date.

    Without --input the model's own features are looked up in the feature repository as
    known at the end of the run date (UTC), for --entities or for every entity with a row
    within its TTL, by the same point-in-time join as its training set; the feature vectors
    scored are kept in <warehouse>/scoring_sets/NAME. With --input a prepared table whose
    columns match the signature is scored. The alias, the input's Delta version and the
    as-of time are resolved and checked here (no JVM), so the job scores exactly that.
    """
    from mlplatform.cli.submit import parse_pairs
    from mlplatform.config import load_settings
    from mlplatform.launch.submit import run_in_place
    from mlplatform.scoring import job
    from mlplatform.tracking import model_registry

    settings = load_settings()
    info = model_registry.resolve(model, settings)
    key_list = tuple(k for k in keys.split(",") if k) if keys else None
    request = job.ScoringRequest(model=model, input=input_, keys=key_list, **options)  # type: ignore[arg-type]
    command = job.score_command(
        settings, info, job.check(settings, info, request), summary, profile, parse_pairs(spark_conf)
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


@scores.command()
@click.argument("model")
@click.option("--run-date", default=None, metavar="YYYY-MM-DD", help="Run date (default: the latest).")
@click.option("-n", "--limit", default=10, show_default=True, help="Rows to show (0: all).")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False), help="Write all rows as CSV here.")
def features(model: str, run_date: str | None, limit: int, output: str | None) -> None:
    """The feature vectors MODEL scored for a run date (scoring from the feature repository)."""
    import pandas as pd

    from mlplatform.scoring import results

    frame = results.read_features(model, run_date=run_date, limit=None if output or limit == 0 else limit)
    if output:
        frame.to_csv(output, index=False)
        click.echo(f"{len(frame)} rows -> {output}")
        return
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        click.echo(frame.to_string(index=False) if not frame.empty else "(no rows)")


__all__ = ["score", "scores"]
