"""``mlp ui``: the web catalog over this platform home (read-only unless ``--actions``); ``mlp ui passwd``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlplatform.errors import ConfigError

if TYPE_CHECKING:
    from mlplatform.catalog.app import Actions


def _enabled(actions: bool, auth: str | None, passwords: Path | None, user_header: str, host: str) -> Actions | None:
    """The catalog's Actions from the options, None when read-only; ConfigError for a combination that cannot be."""
    if not actions:
        if auth or passwords:
            raise ConfigError("--auth and --passwords only apply with --actions", "add --actions, or drop them")
        return None
    from mlplatform.catalog.app import Actions
    from mlplatform.catalog.auth import BasicAuth, HeaderAuth, check_loopback

    if auth is None:
        raise ConfigError(
            "--actions needs to know who is acting",
            "add --auth basic --passwords FILE, or --auth header behind a proxy that authenticates",
        )
    if auth == "basic":
        if passwords is None:
            raise ConfigError("--auth basic needs --passwords FILE", "create one with: mlp ui passwd FILE USER")
        return Actions(BasicAuth.from_file(passwords))
    if passwords is not None:
        raise ConfigError("--passwords applies to --auth basic, not header", "drop --passwords")
    check_loopback(host)
    return Actions(HeaderAuth(user_header))


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8800, show_default=True, help="Port (0: any free one).")
@click.option("--actions", is_flag=True, help="Enable approving and rejecting promotion requests (needs --auth).")
@click.option(
    "--auth",
    type=click.Choice(["basic", "header"]),
    help="basic: HTTP basic auth against --passwords; header: a reverse proxy names the user in --user-header.",
)
@click.option(
    "--passwords", type=click.Path(dir_okay=False, path_type=Path), help="Password file (mlp ui passwd FILE USER)."
)
@click.option(
    "--user-header", default="X-Remote-User", show_default=True, help="With --auth header: the proxy's user header."
)
@click.pass_context
def ui(
    ctx: click.Context,
    host: str,
    port: int,
    actions: bool,
    auth: str | None,
    passwords: Path | None,
    user_header: str,
) -> None:
    """Browse feature sets, training sets, models, environments, scores, lineage and audit; approve with --actions."""
    if ctx.invoked_subcommand is not None:
        return
    from mlplatform.catalog.serve import serve
    from mlplatform.config import load_settings

    serve(load_settings(), host=host, port=port, enabled=_enabled(actions, auth, passwords, user_header, host))


@ui.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("user")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin (scripts).")
def passwd(file: Path, user: str, password_stdin: bool) -> None:
    """Add USER to the password file FILE, or change their password (a salted PBKDF2-SHA256 hash)."""
    from mlplatform.catalog.auth import set_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt(f"password of {user}", hide_input=True, confirmation_prompt=True)
    set_password(file, user, password)
    click.echo(f"{user} can sign in to 'mlp ui --actions --auth basic --passwords {file}'")
