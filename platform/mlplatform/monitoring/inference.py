"""The inference log in Delta: spool files of the scoring server appended exactly once, and online drift.

The server's workers write sampled requests to a local spool (``scoring.inference_spool``):
JSON lines in files that are *rotated* — closed and renamed from ``.jsonl.open`` to ``.jsonl``
— and never written again. :func:`ingest` (``mlp monitor ingest MODEL --from DIR``) appends
the new ones to ``<warehouse>/_platform/inference/<model>``, one row per scored input row:

- **Only closed files** (``*.jsonl``) are read, so a file still being written is never
  half-ingested; it is taken by the ingest after its rotation. A truncated last line (a
  worker killed mid-write) is skipped with a warning.
- **Exactly once**: every row carries its file's name and sha256 (``spool_file``,
  ``spool_sha256``). An ingest reads the set already in the table and appends the files not
  in it, all in one Delta commit; re-running ingests nothing twice, and files deleted from
  the spool after ingestion change nothing. A file whose name is in the table with another
  sha256 is refused (a spool file must not change once closed).
- **Concurrent ingests** of one model: each commit carries the Delta transaction
  ``(mlp-inference-ingest, n + 1)`` where ``n`` is the one it read. Of two ingests that read
  the same ``n`` only the first commits (delta-rs refuses the second as a concurrent
  transaction, or the write sees ``n + 1`` recorded and skips); the other fails with a
  one-line error and commits nothing, and re-running it ingests what is left.

After the commit, **online drift** is measured like batch drift (``scoring.drift_run``):
for each (model version, UTC day) the ingest touched, every ingested row of that day is
compared with the version's reference profile by
:func:`~mlplatform.monitoring.compare` and stored with ``source = "online"`` in
``<warehouse>/_platform/monitoring/drift`` (replacing that day's online rows; batch rows stay).
A version without a reference profile is logged and skipped.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlplatform import tables
from mlplatform.config import Settings
from mlplatform.errors import MonitoringError, NoProfileError, TableError
from mlplatform.files import sha256_file
from mlplatform.monitoring import compare
from mlplatform.monitoring.config import model_thresholds
from mlplatform.monitoring.store import read_profile, write_drift
from mlplatform.tables.handle import open_table
from mlplatform.tracking.model_registry import ModelRef, resolve

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["APP_ID", "COLUMNS", "IngestResult", "inference_table", "ingest", "read_inference", "features_of"]

log = logging.getLogger(__name__)

APP_ID = "mlp-inference-ingest"
CLOSED_SUFFIX = ".jsonl"
OPEN_SUFFIX = ".jsonl.open"
COLUMNS = [
    "model",
    "model_version",
    "request_id",
    "row",
    "timestamp",
    "day",
    "latency_seconds",
    "inputs",
    "prediction",
    "spool_file",
    "spool_sha256",
    "ingested_at",
]


@dataclass(frozen=True)
class IngestResult:
    """What one ingest did.

    Attributes:
        files: spool files appended now; ``skipped``: closed files ingested before.
        open_files: files still being written, left for a later ingest.
        requests, rows: requests and input rows appended now.
        table_version: the commit (None when nothing was new).
        drift: ``{"<version>/<day>": status}`` of the online drift measured (None: no profile).
    """

    model: str
    table: str
    files: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    open_files: int = 0
    requests: int = 0
    rows: int = 0
    table_version: int | None = None
    drift: dict[str, str | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "files": list(self.files), "skipped": list(self.skipped)}


def inference_table(settings: Settings, model: str) -> str:
    """URI of ``model``'s inference log table."""
    return tables.table_uri(settings, "_platform", "inference", model)


def _records(path: Path, model: str) -> list[dict[str, Any]]:
    """The requests of one closed spool file, checked to be ``model``'s."""
    lines = path.read_bytes().split(b"\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines):  # no newline after it: cut short by a killed worker
                log.warning("spool file %s: skipping its truncated last line %d", path, number)
                continue
            raise MonitoringError(
                f"spool file {path} line {number} is not JSON",
                "move the file out of the spool folder (it was not written by the scoring server) and re-run",
            ) from None
        if not isinstance(record, dict) or not {"model", "model_version", "inputs", "predictions"} <= set(record):
            raise MonitoringError(
                f"spool file {path} line {number} is not an inference log record",
                "keep only the scoring server's files in the spool folder",
            )
        if record["model"] != model:
            raise MonitoringError(
                f"spool file {path} holds requests of model '{record['model']}', not '{model}'",
                f"ingest it with 'mlp monitor ingest {record['model']} --from ...', "
                "and give each model's server its own MLP_LOG_DIR",
            )
        records.append(record)
    return records


def _rows(records: list[dict[str, Any]], name: str, sha: str, now: datetime) -> list[dict[str, Any]]:
    out = []
    for record in records:
        columns = record["inputs"]["columns"]
        predictions = record["predictions"]
        for i, values in enumerate(record["inputs"]["data"]):
            out.append(
                {
                    "model": record["model"],
                    "model_version": int(record["model_version"]),
                    "request_id": str(record.get("request_id") or ""),
                    "row": i,
                    "timestamp": record["timestamp"],
                    "latency_seconds": float(record.get("latency_seconds") or 0.0),
                    "inputs": json.dumps(dict(zip(columns, values))),
                    "prediction": json.dumps(predictions[i] if i < len(predictions) else None),
                    "spool_file": name,
                    "spool_sha256": sha,
                    "ingested_at": now,
                }
            )
    return out


def _frame(rows: list[dict[str, Any]]) -> "pd.DataFrame":
    import pandas as pd

    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "day"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    frame.insert(COLUMNS.index("day"), "day", frame["timestamp"].dt.strftime("%Y-%m-%d"))
    frame["ingested_at"] = pd.to_datetime(frame["ingested_at"], utc=True)
    return frame.astype({"model_version": "int64", "row": "int64", "latency_seconds": "float64"})


def _ingested(uri: str) -> tuple[dict[str, str], int]:
    """The spool files in the table (name -> sha256) and the ingest transaction number it records."""
    if not tables.exists(uri):
        return {}, 0
    recorded = open_table(uri)[0].transaction_version(APP_ID) or 0
    seen = tables.to_pandas(uri, columns=["spool_file", "spool_sha256"]).drop_duplicates()
    return dict(zip(seen["spool_file"], seen["spool_sha256"])), int(recorded)


def _concurrent(model: str, uri: str) -> MonitoringError:
    return MonitoringError(
        f"another ingest of model '{model}' committed to {uri} while this one ran; nothing of this one was committed",
        "re-run 'mlp monitor ingest': it appends only the files still missing",
    )


def ingest(settings: Settings, model: str, directory: str | Path, job_run: str | None = None) -> IngestResult:
    """Append the closed spool files of ``directory`` not yet in ``model``'s inference table; measure online drift.

    Raises:
        MonitoringError: the folder does not exist; a file is another model's, not a spool
            file, or changed since it was ingested; another ingest committed meanwhile.
        ModelError: a version the files name is not in the registry.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise MonitoringError(
            f"spool folder {folder} does not exist",
            "pass the scoring server's MLP_LOG_DIR with --from (the server writes it once MLP_LOG_SAMPLE > 0)",
        )
    uri = inference_table(settings, model)
    ingested, recorded = _ingested(uri)
    now = datetime.now(timezone.utc)
    rows: list[dict[str, Any]] = []
    new, skipped, versions, requests = [], [], set(), 0
    for path in sorted(folder.glob(f"*{CLOSED_SUFFIX}")):
        sha = sha256_file(path)
        if path.name in ingested:
            if ingested[path.name] != sha:
                raise MonitoringError(
                    f"spool file {path} was ingested into {uri} with sha256 {ingested[path.name][:12]}, "
                    f"it now has {sha[:12]}",
                    "spool files must not change once closed: move this one out of the folder and re-run",
                )
            skipped.append(path.name)
            continue
        records = _records(path, model)
        versions.update(int(r["model_version"]) for r in records)
        requests += len(records)
        rows += _rows(records, path.name, sha, now)
        new.append(path.name)
    open_files = len(list(folder.glob(f"*{OPEN_SUFFIX}")))
    for version in sorted(versions):
        resolve(ModelRef(model, version=version), settings)  # ModelError naming the model when unknown
    result = IngestResult(model, uri, tuple(new), tuple(skipped), open_files, requests, len(rows))
    if not rows:
        log.info("inference log of %s: nothing new in %s (%d open file(s) left)", model, folder, open_files)
        return result
    frame = _frame(rows)
    ingest_id = uuid.uuid4().hex
    try:
        written = tables.write_pandas(
            frame,
            uri,
            partition_by=["day"],
            txn=tables.Txn(APP_ID, recorded + 1),
            metadata=tables.commit_metadata(job="monitoring-ingest", run_id=job_run, ingest_id=ingest_id, files=new),
            description=f"Inference log of model '{model}': one row per scored input row of a sampled request.",
        )
    except TableError as exc:
        if "oncurrent" in str(exc):
            raise _concurrent(model, uri) from exc
        raise
    if not any(c.metadata.get("ingest_id") == ingest_id for c in tables.history(uri, limit=5)):
        raise _concurrent(model, uri)
    log.info(
        "inference log of %s: %d request(s), %d row(s) from %d file(s) -> %s", model, requests, len(rows), len(new), uri
    )
    drift = {
        f"{version}/{day}": measure_online_drift(settings, model, version, day, job_run)
        for version, day in sorted(set(zip(frame["model_version"], frame["day"])))
    }
    return IngestResult(model, uri, tuple(new), tuple(skipped), open_files, requests, len(rows), written, drift)


def read_inference(
    settings: Settings, model: str, day: str | None = None, version: int | None = None
) -> "pd.DataFrame":
    """The ingested rows of ``model`` (optionally of one UTC day and version); empty when none."""
    import pandas as pd

    uri = inference_table(settings, model)
    if not tables.exists(uri):
        return pd.DataFrame(columns=COLUMNS)
    filters: list[tuple[str, str, Any]] = []
    if day is not None:
        filters.append(("day", "=", day))
    if version is not None:
        filters.append(("model_version", "=", int(version)))
    return tables.to_pandas(uri, filters=filters or None)


def features_of(rows: "pd.DataFrame") -> tuple["pd.DataFrame", "pd.Series"]:
    """The input rows and predictions of ingested rows, decoded from their JSON."""
    import pandas as pd

    features = pd.DataFrame.from_records([json.loads(text) for text in rows["inputs"]])
    predictions = pd.Series([json.loads(text) for text in rows["prediction"]], name="prediction")
    return features, predictions.infer_objects()


def measure_online_drift(
    settings: Settings, model: str, version: int, day: str, job_run: str | None = None
) -> str | None:
    """Drift of the ingested requests of ``day`` to ``model`` version ``version``; its status (None: no profile)."""
    try:
        profile = read_profile(settings, model, version)
    except NoProfileError:
        log.info("model:%s@%s has no reference profile: online drift of %s not measured", model, version, day)
        return None
    rows = read_inference(settings, model, day=day, version=version).sort_values(["timestamp", "request_id", "row"])
    features, predictions = features_of(rows)
    report = compare(profile, features, predictions, None, thresholds=model_thresholds(model))
    write_drift(settings, report, run_date=day, job_run=job_run, source="online")
    log.info("online drift of %s on %s (%d rows): %s", profile.subject, day, len(rows), report.status)
    return report.status
