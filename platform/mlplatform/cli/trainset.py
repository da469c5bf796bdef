"""``mlp trainset``: build, rebuild, list and describe point-in-time training sets."""

from __future__ import annotations

import click

from mlplatform.cli.textfmt import table


@click.group()
def trainset() -> None:
    """Training sets: specs in conf/trainsets/, tables in <warehouse>/training_sets/."""


@trainset.command()
@click.argument("spec")
@click.option("--engine", type=click.Choice(["auto", "pandas", "spark"]), help="Default: the spec's (auto).")
@click.option("--profile", help="Spark profile when the Spark engine runs.")
def build(spec: str, engine: str | None, profile: str | None) -> None:
    """Build SPEC (a name in conf/trainsets/ or a YAML path) as a new version."""
    from mlplatform.config import load_settings
    from mlplatform.features.definitions import load_trainset_spec
    from mlplatform.features.trainsets import build as run
    from mlplatform.features.trainsets import choose_engine, plan

    settings = load_settings()
    parsed = load_trainset_spec(spec)
    engine = engine or parsed.engine
    spark = None
    if engine == "auto":
        engine = choose_engine(plan(settings, parsed))
    if engine == "spark":
        from mlplatform.launch.session import session

        spark = session(profile=profile, app_name=f"mlp-trainset-{parsed.name}", settings=settings)
    try:
        result = run(parsed, settings, engine=engine, spark=spark)
    finally:
        if spark is not None:
            spark.stop()
    click.echo(
        f"{result.id}: {result.rows} rows, {len(result.manifest['columns'])} columns, "
        f"engine {result.engine}, {result.seconds:.1f}s"
    )
    for name, info in result.manifest["features"].items():
        click.echo(f"  read {info['id']}")
    labels = result.manifest["labels"]
    click.echo(f"  labels {labels['table']} @v{labels['version']}")


@trainset.command()
@click.argument("name")
@click.option("--version", type=int, help="Default: the latest version.")
@click.option("--engine", type=click.Choice(["pandas", "spark"]), help="Default: the engine recorded.")
def rebuild(name: str, version: int | None, engine: str | None) -> None:
    """Re-run a version's manifest (same spec, same input versions) and compare the rows."""
    from mlplatform.config import load_settings
    from mlplatform.features.trainsets import (
        read_trainset,
        same_rows,
        trainset_manifest,
    )
    from mlplatform.features.trainsets import rebuild as run

    settings = load_settings()
    manifest = trainset_manifest(name, version, settings)
    spark = None
    if (engine or manifest["engine"]) == "spark":
        from mlplatform.launch.session import session

        spark = session(app_name=f"mlp-trainset-{name}", settings=settings)
    try:
        again = run(name, manifest["version"], settings, engine=engine, spark=spark, write=False)
    finally:
        if spark is not None:
            spark.stop()
    stored = read_trainset(name, manifest["version"], settings)
    same = same_rows(again, stored, manifest["columns"])
    click.echo(
        f"{manifest['id']}: rebuilt {len(again)} rows from the manifest; "
        + ("identical to the stored rows" if same else "DIFFERENT from the stored rows")
    )
    if not same:
        raise SystemExit(1)


@trainset.command("list")
def list_() -> None:
    """Built training sets with their latest version."""
    from mlplatform.config import load_settings
    from mlplatform.features.catalog import trainset_names
    from mlplatform.features.trainsets import trainset_versions

    settings = load_settings()
    rows = []
    for name in trainset_names(settings):
        versions = trainset_versions(name, settings)
        if versions:
            last = versions[-1]
            rows.append(
                (
                    name,
                    last["id"],
                    len(versions),
                    last["row_count"],
                    last["engine"],
                    last["time_range"]["start"],
                    last["time_range"]["end"],
                    ",".join(last["features"]),
                )
            )
    click.echo(table(["name", "latest", "versions", "rows", "engine", "from", "to", "feature sets"], rows))


@trainset.command()
@click.argument("name")
@click.option("--version", type=int, help="Default: the latest version.")
def describe(name: str, version: int | None) -> None:
    """The manifest of a training-set version: inputs, time range, rows, spec hash."""
    from mlplatform.config import load_settings
    from mlplatform.features.trainsets import trainset_manifest, trainset_versions

    settings = load_settings()
    m = trainset_manifest(name, version, settings)
    labels = m["labels"]
    click.echo(
        f"{m['id']}  ({len(trainset_versions(name, settings))} versions)  built {m['built_at']} with {m['engine']}"
    )
    click.echo(f"  rows: {m['row_count']}   label times: {m['time_range']['start']} .. {m['time_range']['end']}")
    click.echo(f"  labels: {labels['table']} @v{labels['version']} ({', '.join(labels['columns'])})")
    click.echo(f"  spec hash: {m['spec_hash'][:16]}")
    click.echo()
    click.echo(
        table(
            ["feature set", "read", "revision", "columns"],
            [(s, f["id"], f["revision"], ",".join(f["columns"])) for s, f in m["features"].items()],
            max_width=90,
        )
    )
