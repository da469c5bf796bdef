"""``mlp doctor``: is this machine ready?"""

from __future__ import annotations

import sys

import click


@click.command()
def doctor() -> None:
    """Report Python, Java, Spark, Delta engine, MLflow store and config, each with OK or a fix."""
    from mlplatform.launch.doctor import run_checks

    results = run_checks()
    for check in results:
        status = click.style("OK  ", fg="green") if check.ok else click.style("FAIL", fg="red")
        line = f"{status} {check.name:<7} {check.detail}"
        if check.fix:
            line += f"\n     {'':<7} fix: {check.fix}"
        click.echo(line)
    if not all(c.ok for c in results):
        sys.exit(1)
