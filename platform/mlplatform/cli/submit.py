"""``mlp submit``: run a driver in ``jobs/`` with spark-submit."""

from __future__ import annotations

import click


def parse_pairs(pairs: tuple[str, ...], option: str = "--spark-conf") -> dict[str, str]:
    """``KEY=VALUE`` option values as a dict; a malformed one is a usage error naming ``option``."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"'{pair}' is not KEY=VALUE", param_hint=option)
        out[key] = value
    return out


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--profile", help="Spark profile in conf/spark/ (default: spark_profile setting).")
@click.option(
    "--spark-conf", "spark_conf", multiple=True, metavar="KEY=VALUE", help="Extra Spark setting (repeatable)."
)
@click.option("--print", "print_only", is_flag=True, help="Print the command instead of running it.")
@click.option(
    "--env", "env_id", metavar="ID", help="Ship this environment (env:<name>@<hash12> or a name) to the executors."
)
@click.argument("job")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def submit(
    profile: str | None,
    spark_conf: tuple[str, ...],
    print_only: bool,
    env_id: str | None,
    job: str,
    args: tuple[str, ...],
) -> None:
    """Run JOB (jobs/JOB.py or a path) with spark-submit; ARGS go to the driver."""
    from mlplatform.config import load_settings
    from mlplatform.launch.submit import build_submit, run_in_place

    settings = load_settings()
    command = build_submit(settings, job, args, profile=profile, extra_conf=parse_pairs(spark_conf), env=env_id)
    if print_only:
        click.echo(command.render())
        return
    run_in_place(command)
