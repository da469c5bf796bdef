"""``mlp config``: the settings in effect."""

from __future__ import annotations

import click
import yaml


@click.command()
def config() -> None:
    """Print the settings in effect (file + MLP_* overrides + defaults) as YAML."""
    from mlplatform.config import load_settings

    click.echo(yaml.safe_dump(load_settings().public(), sort_keys=False).rstrip())
