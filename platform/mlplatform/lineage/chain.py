"""The hash chain that makes the audit log tamper-evident.

Every row of the lineage table carries ``seq`` (1, 2, 3, ... in the order rows were
written), ``prev_hash`` (the ``row_hash`` of row ``seq - 1``, :data:`GENESIS` for the
first) and ``row_hash``: the sha256 of the row's canonical encoding, the JSON object of
all its fields but ``row_hash`` (``prev_hash`` included), keys sorted, no spaces, times as
``YYYY-MM-DDTHH:MM:SS.ffffffZ``. Editing, deleting or reordering a row breaks the chain
at that row; :func:`verify` walks it and names the first row that does not match.

One linear chain with several writers: a writer reads the head (the last ``seq`` is the
Delta transaction version of the application :data:`CHAIN_APP`, the head hash from the
newest commit's metadata ``chain_head``, else that row's ``row_hash``), links its rows
after it and commits them with that transaction id from the snapshot it read. A chain
commit that landed meanwhile carries the same application id, so delta-rs refuses the
commit as a concurrent transaction; the writer re-reads the head and tries again. Rows
written before the chain existed (no ``seq``) stay as they are; the chain begins at the
first row that has one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import timezone
from typing import Any, Mapping, Sequence

from mlplatform.errors import LineageError, error_line
from mlplatform.tables.commits import full_metadata, metadata_json
from mlplatform.tables.handle import exists, open_table
from mlplatform.tables.locate import normalize
from mlplatform.tables.locking import commit_lock

__all__ = [
    "CHAIN_APP",
    "CHAIN_COLUMNS",
    "GENESIS",
    "ChainBreak",
    "ChainReport",
    "canonical",
    "row_hash",
    "append",
    "verify",
]

log = logging.getLogger(__name__)

CHAIN_APP = "mlp-audit-chain"
CHAIN_COLUMNS = ["seq", "prev_hash", "row_hash"]
GENESIS = "0" * 64
_ATTEMPTS = 200


# one encoder for every row: json.dumps with options builds a new one per call
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_ARROW_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # Arrow's %S of a microsecond timestamp carries the 6 digits


def _time_text(at: Any) -> str:
    when = at.to_pydatetime() if hasattr(at, "to_pydatetime") else at
    if when is None or isinstance(when, str):  # str: already encoded (verify formats the column at once)
        return when or ""
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime(_TIME_FORMAT)


def canonical(row: Mapping[str, Any]) -> bytes:
    """The bytes a row's hash is taken over: its fields but ``row_hash``, as sorted-key JSON."""
    fields = {k: v for k, v in row.items() if k != "row_hash"}
    fields["at"] = _time_text(fields.get("at"))
    return _ENCODER.encode(fields).encode()


def row_hash(row: Mapping[str, Any]) -> str:
    """sha256 (hex) of :func:`canonical`."""
    return hashlib.sha256(canonical(row)).hexdigest()


def _schema(columns: Sequence[str]) -> Any:
    import pyarrow as pa

    types = {"at": pa.timestamp("us", tz="UTC"), "seq": pa.int64()}
    return pa.schema([(c, types.get(c, pa.string())) for c in columns])


def _head(dt: Any) -> tuple[int, str]:
    """(seq, row_hash) of the last chained row in the snapshot ``dt``; (0, GENESIS) before the chain.

    The last ``seq`` is the chain's transaction version; its hash comes from the newest commit's
    metadata when that commit is the chain's (one log entry), else from the row itself.
    """
    last = dt.transaction_version(CHAIN_APP)
    if not last:
        return 0, GENESIS
    for info in dt.history(1):
        try:
            head = json.loads(info.get("userMetadata") or "{}").get("chain_head") or {}
        except (ValueError, AttributeError):
            head = {}
        if head.get("seq") == last and isinstance(head.get("hash"), str):
            return int(last), head["hash"]
    found = dt.to_pyarrow_table(columns=["seq", "row_hash"], filters=[("seq", "=", int(last))])
    if found.num_rows != 1:
        state = "missing" if not found.num_rows else "there twice"
        raise LineageError(
            f"audit log {dt.table_uri}: the chain head, row seq {last}, is {state}",
            "run 'mlp audit verify' to see where the log was altered",
        )
    return int(last), str(found.column("row_hash")[0].as_py())


def _linked(rows: Sequence[Mapping[str, Any]], seq: int, prev: str) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        seq += 1
        linked = {**row, "seq": seq, "prev_hash": prev}
        prev = linked["row_hash"] = row_hash(linked)
        out.append(linked)
    return out


def append(uri: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str], metadata: Mapping[str, Any]) -> int:
    """Append ``rows`` (dicts of ``columns``) after the chain head in one commit; return the Delta version.

    Retries when another writer extended the chain between reading the head and committing.
    """
    import pyarrow as pa
    from deltalake import CommitProperties, Transaction, write_deltalake
    from deltalake.exceptions import CommitFailedError, DeltaError

    uri = normalize(uri)
    names = [*columns, *CHAIN_COLUMNS]
    meta = full_metadata(metadata)
    for attempt in range(1, _ATTEMPTS + 1):
        dt = open_table(uri)[0] if exists(uri) else None
        seq, prev = _head(dt) if dt is not None else (0, GENESIS)
        linked = _linked(rows, seq, prev)
        data = pa.Table.from_pylist(linked, schema=_schema(names))
        head = {"seq": linked[-1]["seq"], "hash": linked[-1]["row_hash"]}
        props = CommitProperties(
            custom_metadata={"userMetadata": metadata_json({**meta, "chain_head": head})},
            app_transactions=[Transaction(CHAIN_APP, linked[-1]["seq"])],
        )
        try:
            with commit_lock(uri, "deltalake"):
                write_deltalake(
                    dt if dt is not None else uri, data, mode="append", schema_mode="merge", commit_properties=props
                )
        except (CommitFailedError, DeltaError) as exc:
            text = error_line(exc)
            retry = "concurrent" in text.lower() or (dt is None and "already exists" in text.lower())
            if not retry:
                raise LineageError(
                    f"audit log {uri}: appending {len(rows)} row(s) failed: {text}",
                    "nothing was committed; fix the cause and re-run",
                ) from exc
            log.debug("audit log %s: the chain moved past seq %d (attempt %d); re-reading the head", uri, seq, attempt)
            time.sleep(random.uniform(0, 0.002 * min(attempt, 20)))
            continue
        return int(open_table(uri)[0].version()) if dt is None else int(dt.version())
    raise LineageError(
        f"audit log {uri}: {_ATTEMPTS} attempts to append after the chain head lost to other writers",
        "re-run; if it persists, look for a writer stuck in a loop ('mlp audit --limit 20')",
    )


@dataclass(frozen=True)
class ChainBreak:
    """The first row that does not match: its ``seq`` and what is wrong with it."""

    seq: int
    problem: str
    row: dict[str, Any]

    def describe(self) -> str:
        who = (
            f" ({self.row.get('action')} by {self.row.get('actor')} at {_time_text(self.row.get('at'))})"
            if self.row
            else ""
        )
        return f"row seq {self.seq}{who}: {self.problem}"


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify` found."""

    table: str
    rows: int
    unchained: int
    first_seq: int | None
    head_seq: int
    head_hash: str
    broken: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def lines(self) -> list[str]:
        out = [f"audit log {self.table}: {self.rows} row(s)"]
        if self.first_seq is None:
            out.append("  no chained row yet")
        else:
            out.append(f"  chain begins at row seq {self.first_seq}; head seq {self.head_seq} hash {self.head_hash}")
        if self.unchained:
            out.append(f"  {self.unchained} row(s) were written before the chain existed and are not covered")
        out.append(f"  BROKEN at {self.broken.describe()}" if self.broken else "  chain intact")
        return out


def _texts(names: Sequence[str], lists: Sequence[list[Any]]) -> list[str]:
    """Each row's :func:`canonical` JSON, built a column at a time (the same text, far fewer calls)."""
    from json.encoder import encode_basestring  # what the encoder uses for strings with ensure_ascii=False

    parts = []
    for name, values in sorted(zip(names, lists)):
        key = encode_basestring(name) + ":"
        parts.append([key + (encode_basestring(v) if isinstance(v, str) else _ENCODER.encode(v)) for v in values])
    return ["{" + ",".join(row) + "}" for row in zip(*parts)]


def _walk(
    seqs: list[int], prevs: list[str], computed: list[str], stored: list[str], recorded: int, row: Any
) -> ChainBreak | None:
    """The first break: ``computed`` are the rows' hashes now, ``stored`` their ``row_hash``; ``row(i)`` row i."""
    expected_seq, prev = (seqs[0], prevs[0]) if seqs else (1, GENESIS)
    if seqs and expected_seq == 1 and prev != GENESIS:
        return ChainBreak(1, f"the first row links to {prev[:12]}..., not the genesis value", row(0))
    for i, seq in enumerate(seqs):
        if seq > expected_seq:
            missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
            return ChainBreak(expected_seq, f"missing: row(s) {missing} were deleted (row {seq} comes next)", row(i))
        if seq < expected_seq:
            return ChainBreak(seq, "appears twice: a row was inserted or copied", row(i))
        if prevs[i] != prev:
            return ChainBreak(
                seq, f"does not follow row {seq - 1}: rows were reordered, inserted or removed here", row(i)
            )
        if computed[i] != stored[i]:
            return ChainBreak(seq, "was edited: its fields do not match its row_hash", row(i))
        prev, expected_seq = stored[i], seq + 1
    if recorded >= expected_seq:
        return ChainBreak(
            expected_seq, f"missing: the log recorded rows up to seq {recorded}; the last ones were deleted", {}
        )
    return None


def verify(uri: str, columns: Sequence[str]) -> ChainReport:
    """Walk the chain of the table at ``uri`` in ``seq`` order; name the first row that does not match."""
    import pyarrow.compute as pc

    uri = normalize(uri)
    if not exists(uri):
        return ChainReport(uri, 0, 0, None, 0, GENESIS, None)
    dt, uri = open_table(uri)
    data = dt.to_pyarrow_table()
    if "seq" not in data.column_names:
        return ChainReport(uri, data.num_rows, data.num_rows, None, 0, GENESIS, None)
    chained = data.filter(pc.is_valid(data.column("seq"))).sort_by("seq")
    names = [c for c in [*columns, "seq", "prev_hash"] if c in chained.column_names]
    values = [
        pc.strftime(chained.column(c), _ARROW_TIME_FORMAT).fill_null("") if c == "at" else chained.column(c)
        for c in names
    ]
    # the times as the encoding writes them, so each row is hashed as it is, with no conversion
    lists = [v.to_pylist() for v in values]
    columns_by_name = dict(zip(names, lists))
    seqs, prevs = columns_by_name["seq"], columns_by_name["prev_hash"]
    computed = [hashlib.sha256(text.encode()).hexdigest() for text in _texts(names, lists)]
    hashes = chained.column("row_hash").to_pylist()

    def row(i: int) -> dict[str, Any]:
        return {name: column[i] for name, column in columns_by_name.items()}

    broken = _walk(seqs, prevs, computed, hashes, int(dt.transaction_version(CHAIN_APP) or 0), row)
    return ChainReport(
        uri,
        data.num_rows,
        data.num_rows - chained.num_rows,
        seqs[0] if seqs else None,
        seqs[-1] if seqs else 0,
        hashes[-1] if hashes else GENESIS,
        broken,
    )
