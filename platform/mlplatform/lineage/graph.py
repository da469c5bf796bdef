"""The lineage graph: edges read back from the lineage table, walked upstream and downstream.

Ids have the form ``<kind>:<name>@<selector>`` (see :data:`KINDS`). Walking from an id
follows edges transitively: upstream answers "what produced this?", downstream answers
"what used this?". The table is read through :mod:`mlplatform.tables` with deltalake,
so no SparkSession or JVM is started.

Example:
    >>> graph = LineageGraph.from_rows([("fs:activity@v3", "feature_set", "ts:churn@v1")])
    >>> [e.from_id for e in graph.walk("ts:churn@v1").upstream]
    ['fs:activity@v3']
"""

from __future__ import annotations

import difflib
import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from mlplatform import tables
from mlplatform.config import Settings
from mlplatform.errors import PlatformError, UnknownIdError
from mlplatform.lineage.edges import COLUMNS, GraphEdge, lineage_table
from mlplatform.lineage.trainsets import manifest_edges

__all__ = [
    "KINDS",
    "AUDIT_RELATION",
    "Walk",
    "LineageGraph",
    "check_id",
    "edge_from_record",
    "load_frame",
    "load_graph",
]

log = logging.getLogger(__name__)

# kind -> what it names; the order is also the left-to-right order of pictures
KINDS: dict[str, str] = {
    "code": "code version",
    "env": "environment",
    "fs": "feature-set version",
    "table": "table version",
    "ts": "training-set version",
    "model": "model version",
    "scores": "scoring result version",
    "benchmark": "benchmark report",
}

# relation of the self-referencing rows that record an action without an edge
AUDIT_RELATION = "audit"


def check_id(artifact_id: str) -> str:
    """Return ``artifact_id`` stripped, or raise when it is not ``<kind>:<name>[@<selector>]``."""
    text = artifact_id.strip()
    kind, sep, rest = text.partition(":")
    if not sep or not rest or kind not in KINDS:
        kinds = ", ".join(f"{k}: ({v})" for k, v in KINDS.items())
        raise UnknownIdError(
            f"'{artifact_id}' is not an artifact id",
            f"write KIND:NAME@VERSION with KIND one of {kinds}, e.g. scores:churn@v3",
        )
    return text


@dataclass(frozen=True)
class Walk:
    """Everything reachable from ``root``: the edges upstream and downstream of it."""

    root: str
    upstream: tuple[GraphEdge, ...]
    downstream: tuple[GraphEdge, ...]

    @property
    def edges(self) -> tuple[GraphEdge, ...]:
        return self.upstream + self.downstream

    @property
    def nodes(self) -> list[str]:
        """Every id in the walk, root first, then in order of discovery."""
        seen = {self.root: None}
        for edge in self.edges:
            seen.setdefault(edge.from_id, None)
            seen.setdefault(edge.to_id, None)
        return list(seen)

    def upstream_ids(self) -> set[str]:
        return {e.from_id for e in self.upstream}

    def downstream_ids(self) -> set[str]:
        return {e.to_id for e in self.downstream}


class LineageGraph:
    """An in-memory index of lineage edges; re-recorded identical edges count once."""

    def __init__(self, edges: Iterable[GraphEdge]) -> None:
        self._incoming: dict[str, list[GraphEdge]] = {}
        self._outgoing: dict[str, list[GraphEdge]] = {}
        seen: set[tuple[str, str, str]] = set()
        for edge in edges:
            key = (edge.from_id, edge.relation, edge.to_id)
            if edge.relation == AUDIT_RELATION or key in seen:
                continue
            seen.add(key)
            self._outgoing.setdefault(edge.from_id, []).append(edge)
            self._incoming.setdefault(edge.to_id, []).append(edge)

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[str]]) -> "LineageGraph":
        """Build from ``(from_id, relation, to_id)`` tuples (tests, small examples)."""
        return cls(GraphEdge(f, r, t) for f, r, t in rows)

    @classmethod
    def from_frame(cls, frame: Any) -> "LineageGraph":
        """Build from a pandas frame with the lineage table's columns, oldest first."""
        if frame is None or len(frame) == 0:
            return cls([])
        ordered = frame.sort_values("at", kind="stable") if "at" in frame else frame
        return cls(edge_from_record(r) for r in ordered.to_dict("records"))

    def edges(self) -> list[GraphEdge]:
        """Every distinct edge (grouped by upstream id)."""
        return [e for group in self._outgoing.values() for e in group]

    @property
    def ids(self) -> set[str]:
        return set(self._incoming) | set(self._outgoing)

    def __contains__(self, artifact_id: str) -> bool:
        return artifact_id in self._incoming or artifact_id in self._outgoing

    def parents(self, artifact_id: str) -> list[GraphEdge]:
        """Edges into ``artifact_id``: what it was made from."""
        return list(self._incoming.get(artifact_id, []))

    def children(self, artifact_id: str) -> list[GraphEdge]:
        """Edges out of ``artifact_id``: what was made from it."""
        return list(self._outgoing.get(artifact_id, []))

    def latest(self, artifact_id: str) -> str:
        """``kind:name@latest`` -> the recorded id of that name with the highest version number."""
        kind, _, rest = check_id(artifact_id).partition(":")
        name, _, selector = rest.rpartition("@")
        if selector != "latest":
            return artifact_id.strip()
        versions = [
            (int(i.rsplit("@", 1)[1].lstrip("v")), i)
            for i in self.ids
            if i.startswith(f"{kind}:{name}@") and i.rsplit("@", 1)[1].lstrip("v").isdigit()
        ]
        if not versions:
            raise UnknownIdError(
                f"no version of {kind}:{name} is recorded in the lineage table", self._suggest(f"{kind}:{name}@")
            )
        return max(versions)[1]

    def walk(self, artifact_id: str, depth: int | None = None) -> Walk:
        """All edges upstream and downstream of ``artifact_id`` (breadth first, ``depth`` hops at most).

        Raises:
            UnknownIdError: the id is malformed or appears in no edge; the hint lists close ids.
        """
        root = check_id(artifact_id)
        if root not in self:
            raise UnknownIdError(f"{root} does not appear in the lineage table", self._suggest(root))
        return Walk(
            root, self._bfs(root, self._incoming, "from_id", depth), self._bfs(root, self._outgoing, "to_id", depth)
        )

    def _bfs(
        self, root: str, index: dict[str, list[GraphEdge]], follow: str, depth: int | None
    ) -> tuple[GraphEdge, ...]:
        found: list[GraphEdge] = []
        visited = {root}
        queue = deque([(root, 0)])
        while queue:
            node, hops = queue.popleft()
            if depth is not None and hops >= depth:
                continue
            for edge in index.get(node, []):
                found.append(edge)
                nxt = getattr(edge, follow)
                if nxt not in visited:
                    visited.add(nxt)
                    queue.append((nxt, hops + 1))
        return tuple(found)

    def _suggest(self, root: str) -> str:
        if not self.ids:
            return "the lineage table is empty: jobs record edges as they build, train and score"
        kind, _, rest = root.partition(":")
        name = rest.split("@", 1)[0]
        same = sorted(i for i in self.ids if i.startswith(f"{kind}:{name}@"))
        if same:
            return f"recorded versions: {', '.join(same[:10])}"
        close = difflib.get_close_matches(
            root, sorted(i for i in self.ids if i.startswith(f"{kind}:")), n=5, cutoff=0.5
        )
        if close:
            return "did you mean: " + ", ".join(close)
        return f"no {KINDS.get(kind, kind)} named '{name}' is recorded; see recorded ids with 'mlp audit'"


def edge_from_record(row: dict[str, Any]) -> GraphEdge:
    raw = row.get("details") or "{}"
    try:
        details = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except ValueError:
        details = {"raw": raw}
    return GraphEdge(
        from_id=str(row["from_id"]),
        relation=str(row["relation"]),
        to_id=str(row["to_id"]),
        action=str(row.get("action") or ""),
        job_run=str(row.get("job_run") or ""),
        actor=str(row.get("actor") or ""),
        at=row.get("at"),
        details=details,
    )


def load_frame(settings: Settings) -> Any:
    """The lineage table as a pandas frame (empty with the right columns when nothing is recorded)."""
    import pandas as pd

    uri = lineage_table(settings)
    if not tables.exists(uri):
        log.info("lineage table %s does not exist yet", uri)
        return pd.DataFrame(columns=COLUMNS)
    return tables.to_pandas(uri)


def load_graph(settings: Settings, manifests: bool = True) -> LineageGraph:
    """The lineage graph of everything recorded so far.

    With ``manifests``, training sets whose feature-set edges were not recorded get them
    from their build manifests (see :mod:`mlplatform.lineage.trainsets`).
    """
    frame = load_frame(settings)
    graph = LineageGraph.from_frame(frame)
    if not manifests or len(frame) == 0:
        return graph
    built = set(frame.loc[frame["relation"] == "feature_set", "to_id"])
    extra = manifest_edges(settings, graph.ids, built)
    return LineageGraph([*graph.edges(), *extra]) if extra else graph


def downstream_of(settings: Settings, ids: Iterable[str], kind: str) -> list[str]:
    """Ids of artifacts of ``kind`` (``model``, ``scores``, ...) recorded downstream of any of ``ids``."""
    wanted = list(ids)
    if not wanted:
        return []
    try:
        graph = load_graph(settings)
    except PlatformError as exc:
        log.debug("no lineage to read %s ids from: %s", kind, exc)
        return []
    found: set[str] = set()
    for artifact_id in wanted:
        if artifact_id in graph:
            found |= {i for i in graph.walk(artifact_id).downstream_ids() if i.startswith(f"{kind}:")}
    return sorted(found)
