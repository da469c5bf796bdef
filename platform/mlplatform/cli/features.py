"""``mlp features``: generate demo data, register definitions, ingest, discover."""

from __future__ import annotations

from typing import Any

import click

from mlplatform.cli.textfmt import table


def _size(n: Any) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@click.group()
def features() -> None:
    """Feature sets: definitions in conf/features/, tables in <warehouse>/features/."""


@features.command()
@click.option(
    "--size",
    default="small",
    show_default=True,
    help="A size from conf/features/_raw.yaml (tiny, small, medium, large).",
)
@click.option("--customers", type=int, help="Override the number of customers.")
@click.option("--seed", type=int, help="Override the seed.")
def generate(size: str, customers: int | None, seed: int | None) -> None:
    """Write the seeded churn demo's raw tables (customers, activity, support, labels)."""
    from mlplatform.config import load_settings
    from mlplatform.features.datagen import write_raw_tables

    written = write_raw_tables(load_settings(), size=size, customers=customers, seed=seed)
    click.echo(
        table(
            ["table", "rows", "version", "location"],
            [(name, rows, version, uri) for name, (uri, version, rows) in written.items()],
            max_width=100,
        )
    )


@features.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
def apply(files: tuple[str, ...]) -> None:
    """Register new or changed definitions (default: every conf/features/*.yaml)."""
    from mlplatform.config import load_settings
    from mlplatform.features import registry
    from mlplatform.features.definitions import load_feature_set, load_feature_sets

    definitions = [load_feature_set(f) for f in files] if files else load_feature_sets()
    results = registry.apply(load_settings(), definitions)
    click.echo(table(["feature set", "revision", "status"], [(r.name, r.revision, r.status) for r in results]))


@features.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_sets", is_flag=True, help="Every registered feature set.")
@click.option("--mode", type=click.Choice(["merge", "append", "overwrite"]), help="Default: the definition's mode.")
@click.option("--profile", help="Spark profile (default: spark_profile setting).")
def ingest(names: tuple[str, ...], all_sets: bool, mode: str | None, profile: str | None) -> None:
    """Materialize feature sets on Spark in this process (`mlp submit build_features` for a cluster)."""
    from mlplatform.config import load_settings
    from mlplatform.features import ingest as run
    from mlplatform.features import registry
    from mlplatform.launch.session import session

    settings = load_settings()
    if all_sets:
        names = tuple(r.name for r in registry.registered(settings))
    if not names:
        raise click.UsageError("name at least one feature set, or pass --all")
    for name in names:
        registry.get(settings, name)  # fail on a typo before Spark starts
    spark = session(profile=profile, app_name="mlp-features-ingest", settings=settings)
    try:
        for name in names:
            result = run(spark, settings, name, mode=mode)
            click.echo(f"{result.id}: {result.rows} rows ({result.mode})")
    finally:
        spark.stop()


@features.command("list")
def list_() -> None:
    """Registered feature sets with their table version and size."""
    from mlplatform.features import summaries

    rows = [
        (
            s["name"],
            s["revision"],
            len(s["features"]),
            ",".join(s["keys"]),
            s["version"],
            s["rows"],
            _size(s["size_bytes"]),
            s["owner"],
            s["description"],
        )
        for s in summaries()
    ]
    click.echo(table(["name", "rev", "features", "keys", "version", "rows", "size", "owner", "description"], rows))


@features.command()
@click.argument("text")
def search(text: str) -> None:
    """Feature sets whose name, description, owner, tags or features mention TEXT."""
    from mlplatform.features import search as find

    hits = find(text)
    if not hits:
        click.echo(f"no feature set mentions '{text}'")
        return
    click.echo(
        table(
            ["name", "matching features", "tags", "description"],
            [(h["name"], ",".join(h["matching_features"]) or "-", ",".join(h["tags"]), h["description"]) for h in hits],
        )
    )


@features.command()
@click.argument("name")
def describe(name: str) -> None:
    """Definition, schema, rows, time range, versions and users of a feature set."""
    from mlplatform.config import load_settings
    from mlplatform.features import describe as info
    from mlplatform.lineage.graph import downstream_of

    settings = load_settings()
    d = info(name, settings)
    definition = d["definition"]
    lines = [
        f"{definition.name}  (revision {d['revision']} of {d['revisions']}, applied {d['applied_at']:%Y-%m-%d %H:%M})",
        f"  {definition.description}",
        f"  owner: {definition.owner}    tags: {', '.join(definition.tags) or '-'}",
        f"  keys: {', '.join(definition.keys)}    event time: {definition.event_timestamp}"
        f"    known at: {definition.created_timestamp or '-'}    ttl: {definition.ttl}",
        f"  source: {definition.source.table or definition.source.tables}"
        + (f" -> {definition.source.transform}" if definition.source.transform else ""),
    ]
    if d["version"] is None:
        lines.append(f"  table: not ingested yet ({d['table']})")
    else:
        start, end = d.get("time_range") or (None, None)
        lines += [
            f"  table: {d['id']}  {d['rows']} rows  {_size(d['size_bytes'])}  {d['table']}",
            f"  event times: {start} .. {end}",
        ]
    click.echo("\n".join(lines))
    click.echo()
    click.echo(
        table(
            ["feature", "type", "description"],
            [(f.name, f.type, f.description) for f in definition.features],
            max_width=80,
        )
    )
    used = d["used_by"]
    click.echo()
    click.echo(f"used by training sets: {', '.join(used['training_sets']) or '-'}")
    models = downstream_of(settings, used["training_sets"], "model")
    click.echo(f"used by models: {', '.join(models) or '-'}")


@features.command()
@click.argument("name")
def history(name: str) -> None:
    """Table versions (ingestions) and definition revisions of a feature set."""
    from mlplatform.features import history as log

    h = log(name)
    click.echo(
        table(
            ["version", "at", "operation", "mode", "rows", "revision", "user"],
            [(c["id"], c["at"], c["operation"], c["mode"], c["rows"], c["revision"], c["user"]) for c in h["table"]],
        )
    )
    click.echo()
    click.echo(
        table(
            ["revision", "applied at", "by", "hash", "features"],
            [
                (r["revision"], r["applied_at"], r["applied_by"], r["definition_hash"], ",".join(r["features"]))
                for r in h["definitions"]
            ],
            max_width=80,
        )
    )


@features.command()
@click.argument("name")
@click.option("-n", "--limit", default=10, show_default=True, help="Rows to show.")
def preview(name: str, limit: int) -> None:
    """The first rows of a feature set."""
    from mlplatform.features import preview as head

    frame = head(name, limit=limit)
    click.echo(table(list(frame.columns), frame.itertuples(index=False, name=None)))
