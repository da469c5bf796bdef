"""Who may write a table on shared storage: new tables get the configured group and mode,
and a write HDFS refuses becomes one line naming the table's owner, group and mode.

HDFS checks every write against the directory's owner, group and mode (``dfs.permissions``);
Ranger policies and ACLs stay with the cluster. The error names what a stat of the table
root reports (WebHDFS), else the directory HDFS named in its refusal.
"""

from __future__ import annotations

import logging
import re

from mlplatform import storage
from mlplatform.errors import PlatformError, TableError

__all__ = ["share_new_table", "denied_error"]

log = logging.getLogger(__name__)

# Hadoop's FSPermissionChecker, as the JVM (Spark) and delta-rs's HDFS client both quote it:
# Permission denied: user=bob, access=WRITE, inode="/mlp/warehouse/t":alice:team-a:drwxr-xr-x
_DENIED = re.compile(
    r"AccessControlException:? Permission denied: user=(?P<user>[^,\s]+), access=(?P<access>\w+), "
    r'inode="(?P<inode>[^"]+)":(?P<owner>[^:\s]+):(?P<group>[^:\s]+):(?P<perm>[-a-zA-Z]{10})'
)

_GROUP_WRITE = 0o020


def share_new_table(uri: str, version: int) -> None:
    """Give the table the platform just created at ``uri`` the ``hdfs_group`` / ``hdfs_mode`` settings."""
    try:
        storage.share(uri)
    except PlatformError as exc:
        raise TableError(
            f"table {uri} was created (version {version}) but could not be given its group and mode: {exc.message}",
            "fix the cause, then set them yourself: hdfs dfs -chgrp -R GROUP URI && hdfs dfs -chmod -R MODE URI",
        ) from exc


def _mode_bits(perm: str) -> int:
    """``drwxr-xr-x`` -> ``0o755`` (sticky/setuid letters count as their execute bit)."""
    return sum(1 << (8 - i) for i, c in enumerate(perm[1:10]) if c != "-" and c not in "ST")


def _stat_root(uri: str) -> storage.Entry | None:
    try:
        return storage.stat(uri)
    except PlatformError as exc:
        log.debug("cannot stat %s for the permission error: %s", uri, exc)
        return None


def denied_error(uri: str, action: str, exc: BaseException) -> TableError | None:
    """A one-line TableError when HDFS refused ``action`` on the table at ``uri``; None for any other error."""
    found = _DENIED.search(str(exc))
    if found is None:
        return None
    root = _stat_root(uri)
    if root is not None:
        owner, group, mode = root.owner, root.group, root.mode
    else:
        owner, group, mode = found["owner"], found["group"], _mode_bits(found["perm"])
    if mode & _GROUP_WRITE:
        hint = f"ask {owner} to add you to group {group}, or to write it for you"
    else:
        hint = f"group {group} may not write it either (mode {mode:03o}): ask {owner} to write it for you"
    return TableError(
        f"table {uri}: {action} refused for user {found['user']}: the table belongs to owner {owner}, "
        f"group {group}, mode {mode:03o} (HDFS refused {found['access']} on {found['inode']}); nothing was committed",
        hint,
    )
