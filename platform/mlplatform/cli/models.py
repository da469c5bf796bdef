"""``mlp models``: list, describe, promote, rollback, request-promotion, approve, reject, requests, sign, verify."""

from __future__ import annotations

import json
from typing import Any

import click

from mlplatform.cli.signatures import model_sign, model_verify

# held-out metrics shown by describe after the primary metric and the bars: threshold-free, then at the threshold
_SHOWN_METRICS = ("roc_auc", "average_precision", "precision", "recall", "f1", "brier")


@click.group()
def models() -> None:
    """Registered models, their versions, champion and challenger."""


@models.command("list")
def list_() -> None:
    """Every registered model with its champion, challenger and latest version."""
    from mlplatform.cli.textfmt import table
    from mlplatform.config import load_settings
    from mlplatform.lifecycle.models import list_models

    found = list_models(load_settings())
    if not found:
        click.echo("no registered models; train one with 'mlp train NAME'")
        return
    rows = [(m.name, m.versions, m.latest, m.champion, m.challenger, m.primary_metric, m.updated_at) for m in found]
    click.echo(
        table(["model", "versions", "latest", "champion", "challenger", "primary metric", "updated (UTC)"], rows)
    )


def _decision_line(found: Any) -> str | None:
    """How the champion's (else the newest version's) decision threshold was chosen, in one line."""
    from mlplatform.tracking.model_registry import TAG_DECISION

    anchor = next((v for v in found.versions if v.version == found.summary.champion), None)
    anchor = anchor or (found.versions[-1] if found.versions else None)
    raw = anchor.tags.get(TAG_DECISION) if anchor is not None else None
    if not raw:
        return None
    d = json.loads(raw)
    how = "fixed in the spec" if d.get("rule") == "fixed" else f"tuned for {d.get('rule')} on {d.get('chosen_on')}"
    if d.get("cv_score") is not None:
        how += f", mean {'cost' if d.get('rule') == 'cost' else d.get('rule')} {d['cv_score']:.4f}"
    return f"decision threshold of version {anchor.version}: {d.get('threshold'):.4f} ({how})"


@models.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def describe(name: str, as_json: bool) -> None:
    """NAME's versions with their env, training set, code version and held-out metrics."""
    from dataclasses import asdict

    from mlplatform.cli.textfmt import cell, table
    from mlplatform.config import load_settings
    from mlplatform.lifecycle.benchmark import history
    from mlplatform.lifecycle.models import describe as describe_model

    settings = load_settings()
    found = describe_model(name, settings)
    benchmarks = history(settings, model=name, limit=5)
    if as_json:
        click.echo(json.dumps({**asdict(found), "benchmarks": benchmarks}, indent=2, default=str))
        return
    s = found.summary
    click.echo(f"model {s.name}: {s.versions} version(s), champion {cell(s.champion)}, challenger {cell(s.challenger)}")
    if found.description:
        click.echo(found.description)
    d = found.definitions
    if d:
        bars = ", ".join(f"{t['metric']} {t['op']} {t['value']:g}" for t in d.get("thresholds", [])) or "none"
        click.echo(
            f"primary metric {d.get('primary')} "
            f"({'higher' if d.get('higher_is_better', True) else 'lower'} is better); thresholds: {bars}"
        )
    decision_line = _decision_line(found)
    if decision_line:
        click.echo(decision_line)
    history_text = " -> ".join(str(v) for v in found.champion_history) or "none recorded"
    click.echo(f"champion history: {history_text}")
    logged = list(dict.fromkeys(k for v in found.versions for k in v.metrics))
    wanted = [d.get("primary"), *(t["metric"] for t in d.get("thresholds", [])), *_SHOWN_METRICS, *logged]
    names = [n for n in dict.fromkeys(wanted) if n in logged][:6]
    rows = [
        (
            v.version,
            ",".join(v.aliases),
            v.created_at,
            v.env_id,
            v.training_set,
            v.code_version,
            None if v.decision_threshold is None else f"{v.decision_threshold:.4f}",
            *(v.metrics.get(n) for n in names),
        )
        for v in found.versions
    ]
    click.echo("")
    columns = ["version", "aliases", "created (UTC)", "env", "training set", "code", "threshold", *names]
    click.echo(table(columns, rows, max_width=32))
    if benchmarks:
        click.echo("")
        click.echo("recent benchmarks:")
        rows = [
            (
                b["run_date"],
                b["champion_version"],
                b["challenger_version"],
                b["primary_metric"],
                b["champion_primary"],
                b["challenger_primary"],
                b["decision"],
            )
            for b in benchmarks
        ]
        click.echo(
            table(
                ["run date", "champion", "challenger", "metric", "champion value", "challenger value", "decision"], rows
            )
        )


@models.command()
@click.argument("name")
@click.argument("version", type=int)
@click.option("--reason", default="manual promotion", show_default=True, help="Why: kept in the audit log.")
def promote(name: str, version: int, reason: str) -> None:
    """Make VERSION the champion of NAME (the previous champion is remembered for rollback)."""
    from mlplatform.config import load_settings
    from mlplatform.lifecycle.models import promote as do_promote

    click.echo(do_promote(name, version, load_settings(), reason=reason).describe())


@models.command()
@click.argument("name")
@click.option("--to", "to", type=int, help="Roll back to this version (default: the previous champion).")
@click.option("--reason", help="Why: kept in the audit log (required with --break-glass).")
@click.option(
    "--break-glass",
    is_flag=True,
    help="An owner's emergency rollback where conf/governance.yaml requires approval: done now, approval owed.",
)
def rollback(name: str, to: int | None, reason: str | None, break_glass: bool) -> None:
    """Restore the previous champion of NAME."""
    from mlplatform.config import load_settings
    from mlplatform.lifecycle.models import rollback as do_rollback

    if break_glass and not (reason or "").strip():
        raise click.UsageError("--break-glass needs --reason TEXT: the audit log must say why")
    change = do_rollback(name, load_settings(), to=to, reason=reason or "manual rollback", break_glass=break_glass)
    click.echo(change.describe())


@models.command("request-promotion")
@click.argument("name")
@click.argument("version", type=int)
@click.option("--reason", required=True, help="Why this version should serve: kept with the request.")
def request_promotion(name: str, version: int, reason: str) -> None:
    """Ask for VERSION to become the champion of NAME; an approver decides."""
    from mlplatform.config import load_settings
    from mlplatform.lifecycle.approvals import request_promotion as do_request

    found = do_request(name, version, load_settings(), reason)
    click.echo(
        f"request {found.request_id}: promote {found.subject} (by {found.requester}), "
        f"pending until {found.expires_at:%Y-%m-%d %H:%M} UTC; an approver runs: mlp models approve {name} {version}"
    )


@models.command()
@click.argument("name")
@click.argument("version", type=int)
@click.option("--note", default="", help="Kept with the decision.")
def approve(name: str, version: int, note: str) -> None:
    """Approve the open request for VERSION of NAME (you must be an approver, not its author or requester)."""
    from mlplatform.config import load_settings
    from mlplatform.lifecycle.approvals import approve as do_approve

    decided, change = do_approve(name, version, load_settings(), note=note)
    click.echo(f"request {decided.request_id} approved by {decided.decided_by}")
    click.echo(change.describe() if change else f"break-glass rollback to {decided.subject} is now approved")


@models.command()
@click.argument("name")
@click.argument("version", type=int)
@click.option("--reason", required=True, help="Why not: kept with the decision.")
def reject(name: str, version: int, reason: str) -> None:
    """Reject the open promotion request for VERSION of NAME; the champion stays."""
    from mlplatform.config import load_settings
    from mlplatform.lifecycle.approvals import reject as do_reject

    decided = do_reject(name, version, load_settings(), reason)
    click.echo(f"request {decided.request_id} for {decided.subject} rejected by {decided.decided_by}")


@models.command("requests")
@click.argument("name", required=False)
@click.option("--all", "show_all", is_flag=True, help="Also decided and expired requests.")
def requests_(name: str | None, show_all: bool) -> None:
    """Promotion requests (pending) and break-glass rollbacks whose approval is owed."""
    from mlplatform.cli.textfmt import table
    from mlplatform.config import load_settings
    from mlplatform.lifecycle.approvals import requests as load

    found = [(r, r.status()) for r in load(load_settings(), name)]
    shown = [(r, state) for r, state in found if show_all or state in ("pending", "owed")]
    if not shown:
        click.echo("no open requests" + ("" if show_all else " (--all shows decided and expired ones)"))
        return
    rows = [
        (r.request_id, r.subject, r.kind, state, r.requester, r.requested_at, r.expires_at or "", r.decided_by or "",
         r.reason)
        for r, state in shown
    ]  # fmt: skip
    headers = ["request", "version", "kind", "status", "by", "at (UTC)", "expires", "decided by", "reason"]
    click.echo(table(headers, rows))


models.add_command(model_sign)
models.add_command(model_verify)
