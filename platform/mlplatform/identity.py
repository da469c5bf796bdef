"""Who is acting: the authenticated user of this process, never a name the caller types.

The Kerberos principal's short name when a ticket is present (``klist``; ``alice`` for
``alice@EXAMPLE.COM`` or ``alice/admin@EXAMPLE.COM``), else the OS user of the effective
uid (``pwd``), which ``LOGNAME``/``USER`` cannot change. Standard library only: the audit
log, the commit metadata and the approval checks all ask this one function.
"""

from __future__ import annotations

import functools
import logging
import os
import pwd
import shutil
import subprocess

__all__ = ["current_actor", "kerberos_principal"]

log = logging.getLogger(__name__)

_KLIST_TIMEOUT_S = 5


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


@functools.lru_cache(maxsize=1)
def current_actor() -> str:
    """The short name of the Kerberos principal with a ticket, else the effective uid's login name."""
    principal = kerberos_principal()
    if principal:
        return principal.split("@", 1)[0].split("/", 1)[0]
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"
