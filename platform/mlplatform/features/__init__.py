"""Feature repository on Delta: definitions, registry, ingestion, point-in-time training sets.

For data scientists (no SparkSession needed)::

    from mlplatform import features
    features.summaries()                                   # registered feature sets
    features.search("complaint")
    df = features.read("account_activity", version=3)      # fs:account_activity@v3 as pandas
    result = features.build_trainset("churn")              # engine auto: in process when it fits
    rows = features.read_trainset("churn")                 # ts:churn@v<latest>
    features.trainset_manifest("churn")["features"]        # the exact inputs it read

Ingestion runs on Spark (``jobs/build_features.py`` or ``mlp features ingest``).
"""

from __future__ import annotations

from mlplatform.features.catalog import (
    describe,
    history,
    preview,
    read,
    search,
    summaries,
    used_by,
)
from mlplatform.features.definitions import (
    FeatureSetDef,
    TrainingSetSpec,
    load_feature_sets,
    load_trainset_spec,
)
from mlplatform.features.ingestion import IngestResult, feature_table, ingest
from mlplatform.features.registry import apply, registered
from mlplatform.features.trainsets import (
    BuildResult,
    read_trainset,
    rebuild,
    trainset_manifest,
    trainset_versions,
)
from mlplatform.features.trainsets import build as build_trainset

__all__ = [
    "FeatureSetDef",
    "TrainingSetSpec",
    "IngestResult",
    "BuildResult",
    "load_feature_sets",
    "load_trainset_spec",
    "apply",
    "registered",
    "ingest",
    "feature_table",
    "read",
    "preview",
    "summaries",
    "search",
    "describe",
    "history",
    "used_by",
    "build_trainset",
    "rebuild",
    "read_trainset",
    "trainset_manifest",
    "trainset_versions",
]
