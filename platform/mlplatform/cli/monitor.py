"""``mlp monitor``: a model's drift, data quality and alerts as a table, JSON or an offline HTML page.

``mlp monitor MODEL ...`` runs the default sub-command ``show``; further sub-commands are
listed in :data:`SUBCOMMANDS` by module path and imported only when invoked, so
``mlp monitor --help`` imports neither pyspark nor mlflow. A listed module that is not
installed is refused in one line.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from mlplatform.config import Settings
    from mlplatform.monitoring.report import MonitorView

__all__ = ["monitor", "show", "SUBCOMMANDS"]

DEFAULT = "show"

# name -> (module, attribute, one-line help shown by `mlp monitor --help`)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "ingest": (
        "mlplatform.cli.monitor_ingest",
        "ingest",
        "Append a scoring server's inference-log spool to the model's inference table.",
    ),
    "performance": (
        "mlplatform.cli.monitor_lifecycle",
        "performance",
        "Realized performance: MODEL's past scores joined to the labels that landed, per run date.",
    ),
    "triggers": (
        "mlplatform.cli.monitor_lifecycle",
        "triggers",
        "Would monitoring retrain MODEL's champion on a run date (drift, performance, cooldown)?",
    ),
    "profile": (
        "mlplatform.cli.monitor_lifecycle",
        "profile",
        "Backfill reference profiles of versions registered before profiles were kept.",
    ),
}

_TABLE_COLUMNS = [
    "feature",
    "role",
    "status",
    "psi",
    "js",
    "null_rate",
    "null_rate_change",
    "out_of_range_share",
    "unseen_share",
    "reasons",
]


class MonitorGroup(click.Group):
    """A group whose first argument is a sub-command or, for the default ``show``, a model name."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [DEFAULT, *sorted(name for name, (module, _, _) in SUBCOMMANDS.items() if find_spec(module))]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return show  # `mlp monitor MODEL` (and `mlp monitor show MODEL`)
        module, attr, _ = SUBCOMMANDS[name]
        if find_spec(module) is None:
            return None
        return getattr(import_module(module), attr)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in (*SUBCOMMANDS, DEFAULT, *ctx.help_option_names):
            args = [DEFAULT, *args]  # a model name or an option of show first
        return super().parse_args(ctx, args)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if name in SUBCOMMANDS and self.get_command(ctx, name) is None:
            ctx.fail(f"'mlp monitor {name}' is not part of this installation ({SUBCOMMANDS[name][0]} is missing)")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(DEFAULT, "(default) MODEL's drift, data quality and alerts: table, --json or --html.")]
        rows += [(name, SUBCOMMANDS[name][2]) for name in self.list_commands(ctx) if name in SUBCOMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=MonitorGroup)
def monitor() -> None:
    """Production monitoring of a model: mlp monitor MODEL [--run-date D] [--json | --html -o FILE]."""


@monitor.command(DEFAULT)
@click.argument("model")
@click.option("--run-date", default=None, metavar="YYYY-MM-DD", help="Run date (default: the latest measured).")
@click.option("--version", "version", type=int, default=None, help="Model version (default: the one measured last).")
@click.option(
    "--source",
    type=click.Choice(["batch", "online"]),
    default="batch",
    show_default=True,
    help="Drift of batch scoring runs or of the online inference log.",
)
@click.option("--json", "as_json", is_flag=True, help="A JSON list: every stored measure, one object per column.")
@click.option("--html", "as_html", is_flag=True, help="Write one offline HTML page with plots (needs -o).")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False), help="With --html: the page to write.")
def show(
    model: str,
    run_date: str | None,
    version: int | None,
    source: str,
    as_json: bool,
    as_html: bool,
    output: str | None,
) -> None:
    """Drift, data quality and alerts of MODEL's scored features and outputs against its reference profile."""
    if as_json and as_html:
        raise click.UsageError("pick one of --json and --html")
    if as_html != (output is not None):
        raise click.UsageError("--html writes a page: give both --html and -o FILE")
    from mlplatform.config import load_settings
    from mlplatform.errors import NoProfileError
    from mlplatform.monitoring.report import monitor_view

    settings = load_settings()
    try:
        view = monitor_view(settings, model, run_date=run_date, version=version, source=source)
    except NoProfileError:
        from mlplatform.lifecycle.models import describe

        describe(model, settings)  # an unregistered name is an unknown model (exit code 3)
        raise
    if as_json:
        import json

        click.echo(json.dumps(view.records(), indent=1))
    elif output is not None:
        _write_html(settings, view, output)
    else:
        _echo_table(view)


def _echo_table(view: MonitorView) -> None:
    import json

    from mlplatform.cli.textfmt import table

    rows = view.rows.assign(reasons=[", ".join(json.loads(r or "[]")) for r in view.rows["reasons"]])
    others = view.other_versions
    also = f"; also measured that day: version(s) {', '.join(others)} (--version N)" if others else ""
    click.echo(f"{view.subject} on {view.run_date}: {view.status} ({view.scored_rows} rows scored){also}")
    click.echo(table(_TABLE_COLUMNS, rows[_TABLE_COLUMNS].values.tolist()))


def _write_html(settings: Settings, view: MonitorView, output: str) -> None:
    from mlplatform.files import write_atomic
    from mlplatform.monitoring.config import model_thresholds
    from mlplatform.monitoring.performance import read_performance
    from mlplatform.monitoring.report_html import render_html
    from mlplatform.monitoring.store import read_profile

    profile = read_profile(settings, view.model, view.version)
    page = render_html(
        view,
        {c.name: c for c in profile.columns()},
        read_performance(settings, view.model),
        model_thresholds(view.model).default.psi,
    )
    write_atomic(output, page)
    flagged = int((view.rows["status"] != "ok").sum())
    click.echo(f"{view.subject} on {view.run_date}: {view.status}, {flagged} flagged column(s) -> {output}")
