"""The README's command examples name real commands and real options.

Every line in a README code block that starts with ``mlp`` is resolved against the
CLI: its command path must exist and every ``--option`` it uses must be accepted by
that command (checked through ``--help`` of the real console script, in process-free
click introspection). Python blocks marked ``# readme: run`` are executed.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import click
import pytest
from conftest import REPO

BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)


def _blocks() -> list[tuple[str, str]]:
    return BLOCK.findall((REPO / "README.md").read_text())


def _mlp_lines() -> list[str]:
    lines = []
    for _, body in _blocks():
        for raw in body.replace("\\\n", " ").splitlines():  # shell line continuations
            line = raw.split(" #")[0].strip().removeprefix("$ ")
            if line.startswith("mlp ") or line == "mlp":
                lines.extend(_alternatives(line))
    return sorted(set(lines))


def _alternatives(line: str) -> list[str]:
    """``mlp g a X | b Y`` -> ``mlp g a X`` and ``mlp g b Y``."""
    parts = [p.strip() for p in line.split(" | ")]
    if len(parts) == 1:
        return parts
    prefix = parts[0].split()[:-1]
    return [parts[0]] + [" ".join(prefix + [p]) for p in parts[1:]]


def _resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    from mlplatform.cli.main import cli

    command: click.Command = cli
    ctx = click.Context(cli)
    rest = list(words)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            break
        command, rest = sub, rest[1:]
    return command, rest


def _options(command: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for param in command.params:
        names.update(getattr(param, "opts", []))
        names.update(getattr(param, "secondary_opts", []))
    return names


def test_readme_shows_cli_examples():
    assert len(_mlp_lines()) >= 20


@pytest.mark.parametrize("line", _mlp_lines())
def test_readme_command_exists_with_its_options(line: str):
    words = shlex.split(line.replace("[", " ").replace("]", " ").replace("|", " "))[1:]
    from mlplatform.cli.main import cli

    root_opts = _options(cli)
    while words and words[0] in root_opts:
        words = words[2:] if words[0] == "--conf" else words[1:]
    command, rest = _resolve(words)
    assert command is not cli or not words or words[0].startswith("-"), f"unknown command in README: {line}"
    opts = _options(command)
    for word in rest:
        if not word.startswith("-") and command.context_settings.get("allow_interspersed_args") is False:
            break  # the rest belongs to the job (mlp submit JOB ARGS...)
        if word.startswith("--"):
            assert word.split("=")[0] in opts, f"README uses {word} which `{command.name}` does not accept: {line}"


def test_readme_python_blocks_marked_run_execute(tmp_path):
    blocks = [body for lang, body in _blocks() if lang == "python" and body.lstrip().startswith("# readme: run")]
    for body in blocks:
        res = subprocess.run([sys.executable, "-c", body], capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
