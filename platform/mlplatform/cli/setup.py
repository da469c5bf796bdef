"""``mlp setup``: fetch the JVM jars the platform needs."""

from __future__ import annotations

import click


@click.command()
def setup() -> None:
    """Fetch the Delta jars with mvn into the jars folder (once; later runs reuse them)."""
    from mlplatform.config import load_settings
    from mlplatform.launch import jars
    from mlplatform.launch.profiles import pyspark_home

    settings = load_settings()
    paths = jars.fetch(jars.DELTA, settings.jars_dir, provided_dir=pyspark_home() / "jars")
    click.echo(f"{jars.DELTA.coordinate}: {len(paths)} jars in {paths[0].parent}")
