"""``mlp audit``: who did what, when (from the lineage table); ``mlp audit verify``: is the log intact."""

from __future__ import annotations

import json

import click


def _summary(details: dict) -> str:  # type: ignore[type-arg]
    if "previous" in details and "version" in details:
        before = f"v{details['previous']}" if details.get("previous") is not None else "none"
        return f"{before} -> v{details['version']}: {details.get('reason', '')}"
    return ", ".join(f"{k}={v}" for k, v in details.items() if not isinstance(v, (dict, list)))


@click.group(invoke_without_command=True)
@click.option("--since", help="Only events after this: 7d, 12h, 30m, 2w, or a date/time (UTC).")
@click.option("--model", help="Only events about this model's versions, scores and benchmarks.")
@click.option("--action", help="Only this action (build, register, promote, rollback, score, export, benchmark, ...).")
@click.option("--id", "artifact", help="Only events that produced or read this artifact id.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Newest N events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def audit(
    ctx: click.Context,
    since: str | None,
    model: str | None,
    action: str | None,
    artifact: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List recorded actions, oldest first: when, who, what, on which artifacts.

    'mlp audit verify' checks that no row of the log was edited, deleted or moved.
    """
    if ctx.invoked_subcommand is not None:
        return
    from mlplatform.cli.textfmt import cell, table
    from mlplatform.config import load_settings
    from mlplatform.lineage.audit import audit as query

    found = query(load_settings(), since=since, model=model, action=action, artifact=artifact, limit=limit)
    if as_json:
        for e in found:
            click.echo(
                json.dumps(
                    {
                        "at": cell(e.at),
                        "actor": e.actor,
                        "action": e.action,
                        "job_run": e.job_run,
                        "subjects": e.subjects,
                        "inputs": e.inputs,
                        "details": e.details,
                    },
                    default=str,
                )
            )
        return
    if not found:
        click.echo("no matching events in the audit log")
        return
    rows = [
        (e.at, e.actor, e.action, ", ".join(e.subjects), len(e.inputs), _summary(e.details), e.job_run) for e in found
    ]
    click.echo(table(["at (UTC)", "actor", "action", "subject", "inputs", "details", "job run"], rows))


@audit.command()
def verify() -> None:
    """Walk the audit log's hash chain; exit 5 naming the first row that does not match."""
    from mlplatform.config import load_settings
    from mlplatform.lineage.audit import verify as verify_chain

    for line in verify_chain(load_settings()).lines():
        click.echo(line)
