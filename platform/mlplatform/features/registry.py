"""The feature registry: a Delta table of definitions, one row per (name, revision).

``apply`` appends a new revision for each definition that changed (by hash);
old revisions stay visible, and the Delta history of the registry says who
applied what when. Reads go through deltalake (no JVM).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

from mlplatform import tables
from mlplatform.config import Settings
from mlplatform.errors import FeatureError
from mlplatform.features.definitions import FeatureSetDef
from mlplatform.identity import current_actor

__all__ = ["Registered", "ApplyResult", "registry_uri", "apply", "registered", "get", "revisions"]

log = logging.getLogger(__name__)

_COLUMNS = [
    "name",
    "revision",
    "definition_hash",
    "definition",
    "description",
    "owner",
    "tags",
    "features",
    "applied_at",
    "applied_by",
]


@dataclass(frozen=True)
class Registered:
    """One revision of a registered feature set."""

    definition: FeatureSetDef
    revision: int
    definition_hash: str
    applied_at: datetime
    applied_by: str

    @property
    def name(self) -> str:
        return self.definition.name


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply`` did with one definition: ``created``, ``updated`` or ``unchanged``."""

    name: str
    revision: int
    status: str


def registry_uri(settings: Settings) -> str:
    return tables.table_uri(settings, "_platform", "feature_registry")


def _rows(settings: Settings):  # type: ignore[no-untyped-def]
    uri = registry_uri(settings)
    if not tables.exists(uri):
        import pandas as pd

        return pd.DataFrame(columns=_COLUMNS)
    return tables.to_pandas(uri, columns=_COLUMNS)


def _registered(row) -> Registered:  # type: ignore[no-untyped-def]
    applied = row["applied_at"]
    return Registered(
        definition=FeatureSetDef(**json.loads(row["definition"])),
        revision=int(row["revision"]),
        definition_hash=row["definition_hash"],
        applied_at=applied.to_pydatetime() if hasattr(applied, "to_pydatetime") else applied,
        applied_by=row["applied_by"],
    )


def revisions(settings: Settings, name: str | None = None) -> list[Registered]:
    """Every registered revision (of ``name``), oldest first."""
    rows = _rows(settings)
    if name is not None:
        rows = rows[rows["name"] == name]
    return [_registered(r) for _, r in rows.sort_values(["name", "revision"]).iterrows()]


def registered(settings: Settings) -> list[Registered]:
    """The latest revision of every registered feature set, by name."""
    latest: dict[str, Registered] = {}
    for reg in revisions(settings):
        latest[reg.name] = reg
    return [latest[n] for n in sorted(latest)]


def get(settings: Settings, name: str, revision: int | None = None) -> Registered:
    """One registered feature set (latest revision unless given).

    Raises:
        FeatureError: naming the set and listing the registered ones when it is unknown.
    """
    found = revisions(settings, name)
    if revision is not None:
        found = [r for r in found if r.revision == revision]
    if not found:
        known = ", ".join(r.name for r in registered(settings)) or "none"
        what = f"feature set '{name}'" + (f" revision {revision}" if revision is not None else "")
        raise FeatureError(
            f"{what} is not registered (registered: {known})",
            "add conf/features/<name>.yaml and run `mlp features apply`",
        )
    return found[-1]


def apply(settings: Settings, definitions: Sequence[FeatureSetDef]) -> list[ApplyResult]:
    """Register new and changed definitions as new revisions, in one commit."""
    import pandas as pd

    names = [d.name for d in definitions]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FeatureError(f"feature set(s) {', '.join(dupes)} defined more than once", "keep one file per feature set")
    current = {r.name: r for r in registered(settings)}
    results, new_rows = [], []
    now = datetime.now(timezone.utc)
    user = current_actor()
    for definition in definitions:
        digest = definition.digest()
        before = current.get(definition.name)
        if before is not None and before.definition_hash == digest:
            results.append(ApplyResult(definition.name, before.revision, "unchanged"))
            continue
        revision = before.revision + 1 if before else 1
        results.append(ApplyResult(definition.name, revision, "updated" if before else "created"))
        new_rows.append(
            {
                "name": definition.name,
                "revision": revision,
                "definition_hash": digest,
                "definition": json.dumps(definition.model_dump(mode="json"), sort_keys=True),
                "description": definition.description,
                "owner": definition.owner,
                "tags": ",".join(definition.tags),
                "features": ",".join(definition.feature_names),
                "applied_at": now,
                "applied_by": user,
            }
        )
    if new_rows:
        frame = pd.DataFrame(new_rows, columns=_COLUMNS).astype({"revision": "int64"})
        frame["applied_at"] = pd.to_datetime(frame["applied_at"], utc=True).astype("datetime64[us, UTC]")
        tables.write_pandas(
            frame,
            registry_uri(settings),
            mode="append",
            metadata=tables.commit_metadata(
                operation="features.apply", feature_sets={r["name"]: r["revision"] for r in new_rows}
            ),
        )
        log.info("registered %d feature-set revision(s)", len(new_rows))
    return results
