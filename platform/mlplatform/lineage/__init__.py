"""Lineage and audit: association edges appended to ``<warehouse>/_platform/lineage``."""

from __future__ import annotations

from mlplatform.lineage.edges import Edge, lineage_table, record

__all__ = ["Edge", "record", "lineage_table"]
