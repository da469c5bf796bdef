"""Who is acting: the authenticated user of this process, never a name the caller types.

The Kerberos principal's short name when a ticket is present (``klist``; ``alice`` for
``alice@EXAMPLE.COM`` or ``alice/admin@EXAMPLE.COM``), else the OS user of the effective
uid (``pwd``), which ``LOGNAME``/``USER`` cannot change. Standard library only: the audit
log, the commit metadata and the approval checks all ask this one function.

A front end that authenticated its own user (the web catalog's HTTP login) runs the
action inside :func:`acting_for`; no command-line option reaches it.
"""

from __future__ import annotations

import functools
import logging
import os
import pwd
import shutil
import subprocess
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

__all__ = ["current_actor", "kerberos_principal", "acting_for"]

log = logging.getLogger(__name__)

_KLIST_TIMEOUT_S = 5

_AUTHENTICATED_BY_FRONT_END: ContextVar[str | None] = ContextVar("mlp_front_end_user", default=None)


def kerberos_principal() -> str | None:
    """The default principal of this user's ticket cache, None without ``klist`` or a valid ticket."""
    klist = shutil.which("klist")
    if klist is None:
        return None
    try:
        # -s: exit status only (0 = a valid ticket); the listing then names the principal
        if subprocess.run([klist, "-s"], capture_output=True, timeout=_KLIST_TIMEOUT_S).returncode != 0:
            return None
        out = subprocess.run([klist], capture_output=True, text=True, timeout=_KLIST_TIMEOUT_S).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("klist failed (%s); acting as the OS user", exc)
        return None
    for line in out.splitlines():
        if line.strip().lower().startswith("default principal:"):
            return line.split(":", 1)[1].strip() or None
    return None


@contextmanager
def acting_for(user: str) -> Iterator[None]:
    """Within the block (this thread or task only), :func:`current_actor` is ``user``, authenticated by a front end."""
    token = _AUTHENTICATED_BY_FRONT_END.set(user)
    try:
        yield
    finally:
        _AUTHENTICATED_BY_FRONT_END.reset(token)


def current_actor() -> str:
    """The user a front end authenticated (:func:`acting_for`), else this process's :func:`_process_actor`."""
    return _AUTHENTICATED_BY_FRONT_END.get() or _process_actor()


@functools.lru_cache(maxsize=1)
def _process_actor() -> str:
    """The short name of the Kerberos principal with a ticket, else the effective uid's login name."""
    principal = kerberos_principal()
    if principal:
        return principal.split("@", 1)[0].split("/", 1)[0]
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"
