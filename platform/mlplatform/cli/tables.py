"""``mlp tables``: list, describe, show the history of and preview Delta tables (deltalake, no JVM)."""

from __future__ import annotations

import json
from typing import Any

import click

from mlplatform.cli.textfmt import table as text_table


def _resolve(name: str) -> str:
    from mlplatform.config import load_settings
    from mlplatform.tables import resolve_name

    return resolve_name(load_settings(), name)


def _size(num: int) -> str:
    value = float(num)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{num} B"


@click.group()
def tables() -> None:
    """Delta tables of the warehouse. TABLE is a warehouse name (features/customers), a path or a URI."""


@tables.command("list")
def list_() -> None:
    """List the tables under the warehouse with their latest version."""
    from mlplatform.config import load_settings
    from mlplatform.errors import TableError
    from mlplatform.tables import list_tables
    from mlplatform.tables.handle import open_table

    root = str(load_settings().warehouse).rstrip("/")
    rows = []
    for path in list_tables(root):
        name = path[len(root) :].lstrip("/")
        try:
            dt, _ = open_table(path)
            meta = dt.metadata()
            rows.append((name, dt.version(), ",".join(meta.partition_columns) or "-", meta.description or "-"))
        except TableError as exc:
            rows.append((name, "?", "-", exc.message))
    if not rows:
        click.echo(f"no tables under {root}")
        return
    click.echo(text_table(["table", "version", "partitioned by", "description"], rows))


@tables.command()
@click.argument("table")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def describe(table: str, as_json: bool) -> None:
    """Schema, partitioning, size, row count and descriptions of TABLE."""
    from dataclasses import asdict

    from mlplatform.tables import describe as describe_table

    info = describe_table(_resolve(table))
    if as_json:
        click.echo(json.dumps(asdict(info), default=str, indent=2))
        return
    lines = [
        f"table        {info.path}",
        f"version      {info.version}"
        + (f" (last commit {info.last_commit_at:%Y-%m-%d %H:%M:%S} UTC)" if info.last_commit_at else ""),
        f"description  {info.description or '-'}",
        f"rows         {info.num_rows} (from {info.num_rows_source})",
        f"files        {info.num_files}, {_size(info.size_bytes)}",
        f"partitioned  {', '.join(info.partition_columns) or '-'}",
        f"protocol     reader {info.min_reader_version}, writer {info.min_writer_version}"
        + (f"; features {', '.join(info.features)}" if info.features else ""),
    ]
    if info.properties:
        lines.append("properties   " + ", ".join(f"{k}={v}" for k, v in sorted(info.properties.items())))
    click.echo("\n".join(lines) + "\n")
    click.echo(
        text_table(
            ["column", "type", "nullable", "description"],
            [(c.name, c.type, "yes" if c.nullable else "no", c.description) for c in info.columns],
            max_width=80,
        )
    )


@tables.command()
@click.argument("table")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Newest commits to show.")
def history(table: str, limit: int) -> None:
    """Commits of TABLE, newest first, with the job, run and user that made them."""
    from mlplatform.tables import history as table_history

    rows: list[tuple[Any, ...]] = []
    for commit in table_history(_resolve(table), limit=limit):
        meta = commit.metadata
        rows.append(
            (
                commit.version,
                commit.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
                commit.operation,
                meta.get("job"),
                meta.get("run_id"),
                meta.get("user"),
                meta.get("code_version"),
            )
        )
    click.echo(text_table(["version", "committed (UTC)", "operation", "job", "run", "user", "code"], rows))


@tables.command()
@click.argument("table")
@click.option("--version", "version", type=click.IntRange(min=0), default=None, help="Time travel to this version.")
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True, help="Rows to show.")
@click.option("--columns", default=None, help="Comma-separated columns to show.")
def preview(table: str, version: int | None, limit: int, columns: str | None) -> None:
    """The first rows of TABLE (optionally at --version)."""
    from mlplatform.tables import to_pandas

    selected = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    frame = to_pandas(_resolve(table), columns=selected, version=version, limit=limit)
    rows = [tuple(r) for r in frame.itertuples(index=False, name=None)]
    click.echo(text_table([str(c) for c in frame.columns], rows, max_width=40))
    click.echo(f"({len(frame)} row{'s' if len(frame) != 1 else ''})")
