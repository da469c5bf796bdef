"""``mlp retrain MODEL --run-date D``: retrain, benchmark against the champion, promote or keep."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click


@click.command()
@click.argument("model")
@click.option("--run-date", required=True, help="YYYY-MM-DD: labels up to the end of this day are used.")
@click.option(
    "--margin", type=float, help="Override the promotion margin of conf/lifecycle.yaml (absolute, primary metric)."
)
@click.option("--force", is_flag=True, help="Retrain even if this run date was already benchmarked.")
@click.option("--code-version", help="Code version recorded with the challenger (default: git commit).")
@click.option(
    "--lifecycle-conf", type=click.Path(dir_okay=False), help="Lifecycle policy file (default: conf/lifecycle.yaml)."
)
@click.option(
    "--summary",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the outcome (or the error) as JSON here.",
)
def retrain(
    model: str,
    run_date: str,
    margin: float | None,
    force: bool,
    code_version: str | None,
    lifecycle_conf: str | None,
    summary: Path | None,
) -> None:
    """Rebuild MODEL's training set to RUN_DATE, train a challenger, benchmark it
    against the champion on a fresh holdout, and promote it only if it passes every
    threshold and beats the champion by the margin.

    \b
    First brings the realized performance of MODEL's past scores up to date and checks the
    retraining triggers of conf/lifecycle.yaml (drift, realized performance, cooldown); a
    fired trigger is the recorded reason of the retrain.

    \b
    Exit codes: 0 done (promoted, kept, or already done for this run date),
    1 error, 3 unknown model, 4 no champion, 99 nothing to do: no new labelled
    data, or no trigger fired for a model retrained on triggers only.
    """
    from mlplatform.errors import PlatformError
    from mlplatform.lifecycle.retrain import retrain as run

    try:
        outcome = run(
            model, run_date, margin=margin, force=force, code_version=code_version, config_file=lifecycle_conf
        )
    except PlatformError as exc:
        if summary:
            summary.write_text(
                json.dumps(
                    {
                        "ok": False,
                        "model": model,
                        "run_date": run_date,
                        "error": exc.render(),
                        "exit_code": exc.exit_code,
                    }
                )
            )
        raise
    if summary:
        summary.write_text(json.dumps({"ok": True, **asdict(outcome)}, default=str))
    for line in outcome.lines():
        click.echo(line)
