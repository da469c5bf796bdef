"""Where each artifact id is shown in the catalog: ``fs:activity@v3`` -> ``/fs/activity?version=3``."""

from __future__ import annotations

from urllib.parse import urlencode

__all__ = ["url_for_id", "lineage_url", "split_id", "version_url"]


def split_id(artifact_id: str) -> tuple[str, str, str]:
    """``kind:name@selector`` -> (kind, name, selector); missing parts are empty."""
    kind, _, rest = artifact_id.partition(":")
    name, _, selector = rest.partition("@")
    return kind, name, selector


def lineage_url(artifact_id: str) -> str:
    return "/lineage?" + urlencode({"id": artifact_id})


def version_url(model: str, version: object) -> str:
    """The row of one version on its model's page (``?v=`` opens the page of the list that holds it)."""
    return f"/models/{model}?v={version}#v{version}"


def url_for_id(artifact_id: str) -> str:
    """The page of an artifact id; ids without a page of their own (code, tables, benchmarks) go to lineage."""
    kind, name, selector = split_id(artifact_id)
    number = selector.lstrip("v")
    if kind == "fs":
        return f"/fs/{name}"
    if kind == "ts":
        return f"/ts/{name}" + (f"?version={number}" if number.isdigit() else "")
    if kind == "model":
        return version_url(name, number) if number.isdigit() else f"/models/{name}"
    if kind == "env":
        return "/env?" + urlencode({"id": artifact_id})
    if kind == "scores":
        return f"/scores/{name}"
    return lineage_url(artifact_id)
