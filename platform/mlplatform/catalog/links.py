"""Where each artifact id is shown in the catalog: ``fs:activity@v3`` -> ``/fs/activity?version=3``."""

from __future__ import annotations

from urllib.parse import urlencode

__all__ = ["url_for_id", "lineage_url", "split_id"]


def split_id(artifact_id: str) -> tuple[str, str, str]:
    """``kind:name@selector`` -> (kind, name, selector); missing parts are empty."""
    kind, _, rest = artifact_id.partition(":")
    name, _, selector = rest.partition("@")
    return kind, name, selector


def lineage_url(artifact_id: str) -> str:
    return "/lineage?" + urlencode({"id": artifact_id})


def url_for_id(artifact_id: str) -> str:
    """The page of an artifact id; ids without a page of their own (code, tables, benchmarks) go to lineage."""
    kind, name, selector = split_id(artifact_id)
    number = selector.lstrip("v")
    if kind == "fs":
        return f"/fs/{name}"
    if kind == "ts":
        return f"/ts/{name}" + (f"?version={number}" if number.isdigit() else "")
    if kind == "model":
        return f"/models/{name}" + (f"#v{number}" if number.isdigit() else "")
    if kind == "env":
        return "/env?" + urlencode({"id": artifact_id})
    if kind == "scores":
        return f"/scores/{name}"
    return lineage_url(artifact_id)
