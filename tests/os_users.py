"""Real OS users for tests that check who acts: created as root, commands run as them.

``created(users, groups)`` adds system users (no home) and groups and removes them after;
``run_as(user, *command)`` runs a command as one of them with this test's ``MLP_*``
environment, the way a second person on a shared edge node would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Mapping, Sequence

__all__ = ["created", "run_as", "reachable_by_others", "shared_folder"]


def reachable_by_others(path: Path) -> bool:
    """Whether every folder above ``path`` (and it) lets other users through."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents])


@contextlib.contextmanager
def created(users: Mapping[str, Sequence[str]], groups: Sequence[str] = ()) -> Iterator[list[str]]:
    """System users ``{name: [supplementary groups]}`` and ``groups``, removed afterwards (needs root)."""

    def _drop() -> None:
        for name in users:
            subprocess.run(["userdel", name], capture_output=True)
        for group in groups:
            subprocess.run(["groupdel", group], capture_output=True)

    _drop()
    try:
        for group in groups:
            subprocess.run(["groupadd", "--system", group], check=True)
        for name, member_of in users.items():
            extra = ["-G", ",".join(member_of)] if member_of else []
            subprocess.run(["useradd", "--system", "--no-create-home", *extra, name], check=True)
        yield list(users)
    finally:
        _drop()


def run_as(
    user: str, *command: str, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as ``user`` with this test's MLP_* variables (plus ``env``), under a umask that shares files.

    runuser when the venv's interpreter is reachable by other users; where it sits under a
    private home (/root here), setpriv drops to the user keeping only the right to read and
    traverse, which is not the right to write.
    """
    chosen = {k: v for k, v in os.environ.items() if k.startswith(("MLP_", "MLFLOW_TRACKING_URI"))}
    chosen.update(env or {})
    inner = ["sh", "-c", 'umask 000; exec env "$@"', "sh", *(f"{k}={v}" for k, v in chosen.items()), *command]
    if reachable_by_others(Path(os.path.realpath(sys.executable))):
        line = ["runuser", "-u", user, "--", *inner]
    else:
        caps = ["--inh-caps", "+dac_read_search", "--ambient-caps", "+dac_read_search"]
        line = ["setpriv", "--reuid", user, "--regid", user, "--init-groups", *caps, "--", *inner]
    return subprocess.run(line, capture_output=True, text=True, cwd="/tmp", timeout=timeout)


@contextlib.contextmanager
def shared_folder(prefix: str) -> Iterator[Path]:
    """A folder under /tmp every test user may write (pytest's own tmp folders are root's only), removed after."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
