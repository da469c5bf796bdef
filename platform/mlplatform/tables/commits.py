"""Commit metadata, idempotent-write keys and table history (read with deltalake, no JVM).

Every platform write stores a JSON object in the commit's ``userMetadata`` — the
field both delta-spark (``option("userMetadata")``) and delta-rs
(``CommitProperties(custom_metadata={"userMetadata": ...})``) write and read — so a
commit made by either engine says which job, run, user and code version made it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from mlplatform.config import load_settings, project_root
from mlplatform.errors import PlatformError, TableError
from mlplatform.identity import current_actor
from mlplatform.tables.handle import exists, open_table
from mlplatform.tracking.store import code_version

__all__ = [
    "Commit",
    "Txn",
    "commit_metadata",
    "history",
    "commit_of",
    "resolve_timestamp",
    "written_rows",
    "full_metadata",
    "metadata_json",
    "commit_time",
    "committed_version",
    "txn_applied",
    "pin_version",
]

log = logging.getLogger(__name__)

# One id per process unless the job names its run (MLP_RUN_ID).
_PROCESS_RUN_ID = uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Txn:
    """Idempotent-write key: Delta's ``txnAppId`` / ``txnVersion``.

    A write tagged ``Txn("nightly-score", 20240601)`` is applied once: when the table
    already recorded version >= 20240601 for that application id, the write is skipped.

    Args:
        app_id: a stable name of the writing application (one per job and table).
        version: a number that grows with each run, e.g. the run date as ``YYYYMMDD``.
    """

    app_id: str
    version: int

    def __post_init__(self) -> None:
        if not isinstance(self.app_id, str) or not self.app_id.strip():
            raise TableError(
                f"Txn app_id {self.app_id!r} is empty",
                "pass a stable application name, e.g. Txn('nightly-score', 20240601)",
            )
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 0:
            raise TableError(
                f"Txn version {self.version!r} of {self.app_id!r} is not a non-negative integer",
                "use a number that grows per run, e.g. the run date as 20240601",
            )


@dataclass(frozen=True)
class Commit:
    """One version of a table as its log describes it.

    ``metadata`` is the platform metadata parsed from ``user_metadata`` (empty when
    another writer stored something that is not a JSON object).
    """

    version: int
    timestamp: datetime
    operation: str
    metadata: dict[str, Any]
    user_metadata: str | None
    operation_parameters: dict[str, Any] = field(default_factory=dict)
    operation_metrics: dict[str, Any] = field(default_factory=dict)
    engine: str | None = None


@functools.lru_cache(maxsize=8)
def _git_version(root: str) -> str:
    """The git version of the project at ``root`` (the cache key: ``code_version`` finds the root itself)."""
    return code_version(load_settings())


def _code_version() -> str:
    """The ``code_version`` setting (``MLP_CODE_VERSION``), else the project's git commit."""

    try:
        configured = load_settings().code_version
    except PlatformError:  # a broken config must not block a write; `mlp doctor` reports it
        configured = None
    return configured or _git_version(str(project_root()))


def _script_name() -> str:
    script = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else "python"
    return Path(script).stem or "python"


def commit_metadata(**extra: Any) -> dict[str, Any]:
    """Platform metadata for a commit: job, run_id, user, code_version, plus ``extra``.

    ``user`` is the authenticated user (:func:`identity.current_actor`: the Kerberos
    principal's short name, else the OS user), which no variable or option can change.

    ``job`` defaults to ``MLP_JOB`` or the running script's name, ``run_id`` to
    ``MLP_RUN_ID`` or an id of this process; ``extra`` overrides any of them.

    Example:
        >>> tables.commit_metadata(job="ingest", run_id="2024-06-01", rows=10)  # doctest: +SKIP
        {'job': 'ingest', 'run_id': '2024-06-01', 'user': 'me', 'code_version': 'git:ab12cd34ef56', 'rows': 10}
    """
    base = {
        "job": os.environ.get("MLP_JOB") or _script_name(),
        "run_id": os.environ.get("MLP_RUN_ID") or _PROCESS_RUN_ID,
        "user": current_actor(),
        "code_version": _code_version(),
    }
    base.update(extra)
    return base


def full_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a write stores: platform defaults, the caller's metadata and a fresh ``write_id``."""
    meta = commit_metadata(**dict(metadata or {}))
    meta["write_id"] = uuid.uuid4().hex
    return meta


def metadata_json(metadata: Mapping[str, Any]) -> str:
    """The ``userMetadata`` string of a commit."""
    return json.dumps(dict(metadata), sort_keys=True, default=str)


def _parse_metadata(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, str):
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def commit_time(info: Mapping[str, Any]) -> datetime:
    """When a commit was made: its in-commit timestamp, else the commitInfo timestamp."""
    millis = info.get("inCommitTimestamp") or info.get("timestamp") or 0
    return datetime.fromtimestamp(int(millis) / 1000, tz=timezone.utc)


def _commit(info: Mapping[str, Any]) -> Commit:
    raw = info.get("userMetadata")
    return Commit(
        version=int(info["version"]),
        timestamp=commit_time(info),
        operation=str(info.get("operation", "")),
        metadata=_parse_metadata(raw),
        user_metadata=raw if isinstance(raw, str) else None,
        operation_parameters=dict(info.get("operationParameters") or {}),
        operation_metrics=dict(info.get("operationMetrics") or {}),
        engine=info.get("engineInfo"),
    )


def history(table: str, limit: int | None = None) -> list[Commit]:
    """The table's commits, newest first (deltalake; no JVM).

    Args:
        table: table path or URI.
        limit: at most this many of the newest commits.
    """
    if limit is not None and limit < 1:
        raise TableError(
            f"history limit {limit} for table {table} is not positive", "pass limit >= 1 or None for all commits"
        )
    dt, uri = open_table(table)
    return [_commit(info) for info in dt.history(limit)]


def commit_of(table: str, write_id: str, newest: int, oldest: int) -> int | None:
    """The version in ``oldest..newest`` whose platform metadata carries ``write_id``."""
    dt, _ = open_table(table)
    for info in dt.history(max(1, dt.version() - oldest + 1)):
        version = int(info["version"])
        if version < oldest:
            break
        if version <= newest and _parse_metadata(info.get("userMetadata")).get("write_id") == write_id:
            return version
    return None


def committed_version(table: str, meta: Mapping[str, Any], before: int) -> int:
    """The version a write with ``meta`` committed after version ``before`` (found by its write_id).

    When it committed nothing (an idempotent skip), the latest version.
    """
    latest = open_table(table)[0].version()
    found = commit_of(table, str(meta["write_id"]), newest=latest, oldest=before + 1)
    if found is None:
        log.info("table %s: the write committed nothing (idempotent skip); latest version %d", table, latest)
        return latest
    return found


def txn_applied(table: str, txn: Txn | None) -> bool:
    """True when ``table`` already recorded ``txn`` (same app id, version >= txn.version)."""
    if txn is None or not exists(table):
        return False
    recorded = open_table(table)[0].transaction_version(txn.app_id)
    if recorded is not None and recorded >= txn.version:
        log.info(
            "table %s: %s already applied version %s (>= %s); skipping the write",
            table,
            txn.app_id,
            recorded,
            txn.version,
        )
        return True
    return False


def pin_version(table: str, version: int | None, timestamp: datetime | str | None) -> int | None:
    """The version a read should see: ``version``, the one ``timestamp`` resolves to, or None (latest)."""
    if version is not None and timestamp is not None:
        raise TableError(f"table {table}: pass version or timestamp, not both", "choose one way to time-travel")
    return resolve_timestamp(table, timestamp) if timestamp is not None else version


def resolve_timestamp(table: str, timestamp: datetime | str) -> int:
    """The newest version committed at or before ``timestamp`` (naive times are UTC).

    Both readers time-travel through this one resolution, so they answer the same.
    """
    when = _as_utc(table, timestamp)
    commits = history(table)
    eligible = [c.version for c in commits if c.timestamp <= when]
    if not eligible:
        first = min(commits, key=lambda c: c.version)
        raise TableError(
            f"table {table} has no version at {when.isoformat()}: "
            f"its oldest available commit, version {first.version}, was made at {first.timestamp.isoformat()}",
            "pass a later timestamp or a version",
        )
    return max(eligible)


def _as_utc(table: str, timestamp: datetime | str) -> datetime:
    if isinstance(timestamp, str):
        try:
            timestamp = datetime.fromisoformat(timestamp)
        except ValueError as exc:
            raise TableError(
                f"timestamp {timestamp!r} for table {table} is not ISO 8601", "use e.g. '2024-06-01T12:00:00+00:00'"
            ) from exc
    if not isinstance(timestamp, datetime):
        raise TableError(
            f"timestamp {timestamp!r} for table {table} is not a datetime or ISO string",
            "pass datetime(...) or '2024-06-01T12:00:00Z'",
        )
    return timestamp.replace(tzinfo=timezone.utc) if timestamp.tzinfo is None else timestamp.astimezone(timezone.utc)


def written_rows(table: str, version: int) -> int:
    """Rows the commit at ``version`` wrote (its operation metrics; 0 when it wrote none)."""
    dt, uri = open_table(table)
    for info in dt.history(max(1, dt.version() - version + 1)):
        if int(info["version"]) == version:
            metrics = info.get("operationMetrics") or {}
            # Spark records numOutputRows, delta-rs num_added_rows
            return int(metrics.get("numOutputRows", metrics.get("num_added_rows", 0)))
    raise TableError(
        f"table {uri} has no version {version} in its log",
        f"versions go up to {dt.version()}; older ones may have been cleaned up",
    )
