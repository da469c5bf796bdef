"""``mlp monitor`` commands built on the lifecycle: realized performance, retraining triggers, profile backfill."""

from __future__ import annotations

import json

import click

from mlplatform.cli.textfmt import table

__all__ = ["performance", "triggers", "profile"]

_COLUMNS = ["version", "run_date", "metric", "value", "threshold", "status", "labelled_rows", "rows"]


@click.command()
@click.argument("model")
@click.option("--lifecycle-conf", type=click.Path(dir_okay=False), help="Policy file (default conf/lifecycle.yaml).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per (version, run date, metric).")
def performance(model: str, lifecycle_conf: str | None, as_json: bool) -> None:
    """Join MODEL's past scores to the labels that have landed and measure its own metrics per run date.

    Stores the figures in <warehouse>/_platform/monitoring/performance (replacing the model's
    rows: late labels update them) and shows them; a metric under the threshold the version
    was registered with is an alert. The label window is conf/lifecycle.yaml's label_window.
    """
    from dataclasses import asdict

    from mlplatform.config import load_settings
    from mlplatform.lifecycle.gates import load_config
    from mlplatform.lifecycle.realized import measure

    settings = load_settings()
    window = load_config(lifecycle_conf).policy(model).label_window_delta
    rows = measure(model, settings, window)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], indent=1, default=str))
        return
    if not rows:
        click.echo(f"no score of model {model} is judged by a label yet (label window {window})")
        return
    click.echo(table(_COLUMNS, [[getattr(r, c) for c in _COLUMNS] for r in rows]))


@click.command()
@click.argument("model")
@click.option("--run-date", required=True, help="YYYY-MM-DD: monitoring results up to this day count.")
@click.option("--lifecycle-conf", type=click.Path(dir_okay=False), help="Policy file (default conf/lifecycle.yaml).")
def triggers(model: str, run_date: str, lifecycle_conf: str | None) -> None:
    """Would monitoring retrain MODEL's champion tonight? Its drift, realized performance and cooldown.

    Reads the monitoring tables only: run `mlp monitor performance MODEL` first to bring realized
    performance up to date (mlp retrain does both before it decides).
    """
    from mlplatform.config import load_settings
    from mlplatform.dates import parse_run_date
    from mlplatform.errors import LifecycleError
    from mlplatform.lifecycle.gates import load_config
    from mlplatform.lifecycle.models import champion_version
    from mlplatform.lifecycle.triggers import evaluate

    settings = load_settings()
    day = parse_run_date(run_date, LifecycleError, "--run-date 2026-05-01")
    policy = load_config(lifecycle_conf).policy(model)
    check = evaluate(settings, model, champion_version(model, settings), day, policy.triggers)
    for line in check.lines():
        click.echo(line)


@click.command()
@click.argument("model")
@click.option("--version", type=int, help="One version (default: every version of MODEL without a stored profile).")
@click.option("--force", is_flag=True, help="Rebuild from the training set even when a profile is stored.")
def profile(model: str, version: int | None, force: bool) -> None:
    """Backfill the reference profile of MODEL's versions registered before profiles were kept.

    A version's run artifact monitoring/profile.json is stored as it is; without one the profile
    is rebuilt from the version's own training set, its outputs computed in its own environment.
    """
    from mlplatform.config import load_settings
    from mlplatform.lifecycle.profiles import backfill

    for done in backfill(model, load_settings(), version=version, force=force):
        click.echo(done.line())
