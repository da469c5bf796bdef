"""Drift of one scoring run from the feature repository, against its model version's reference profile.

After a run has committed its scores and scoring set, :func:`measure_drift` summarises the
scored feature vectors and the model's outputs on the profile's bins, judges the summary
(:func:`mlplatform.monitoring.drift.compare_summary`) and replaces the run date's rows of
``<warehouse>/_platform/monitoring/drift``. Two engines give the same summary:

- ``pandas`` (in process): both partitions read back with deltalake (no Spark), summarised
  in pandas; merged on the keys and ``as_of`` only when the two do not hold the same keys
  once each (a run's own scoring set and scores always do);
- ``spark``: both partitions read with delta-spark, joined, and summarised in one
  aggregation pass (:mod:`mlplatform.monitoring.spark_summary`): one scan of each table.

``auto`` picks ``pandas`` for a run of at most :data:`AUTO_MAX_ROWS` rows (or when no Spark
session is active) and ``spark`` above. A version registered before profiles existed has
none: the run says so and measures nothing.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from mlplatform import tables
from mlplatform.config import Settings
from mlplatform.errors import MonitoringError, NoProfileError
from mlplatform.features.scoring_sets import AS_OF
from mlplatform.monitoring.bands import ModelThresholds
from mlplatform.monitoring.config import model_thresholds
from mlplatform.monitoring.drift import compare_summary
from mlplatform.monitoring.profile import Profile
from mlplatform.monitoring.store import read_profile, write_drift
from mlplatform.monitoring.summary import Summary, summarize
from mlplatform.scoring import results
from mlplatform.scoring.batch import ScoreResult

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession

__all__ = ["ENGINES", "AUTO_MAX_ROWS", "choose_engine", "measure_drift", "same_rows"]

log = logging.getLogger(__name__)

ENGINES = ("auto", "pandas", "spark")
# scripts/bench/monitoring.py, 5M rows x 20 features on 2 cores: in process 10-12 s, Spark 73-77 s (shuffle
# join and a ~300-aggregate pass); so Spark only once the rows (~1 GB per 5M in pandas) may not fit the driver
AUTO_MAX_ROWS = 20_000_000
_RUN_COLUMNS = ["model_version", "scoring_run_id", "run_date"]


def choose_engine(engine: str, rows: int, spark: "SparkSession | None") -> str:
    """The engine for a run of ``rows`` rows: ``engine`` itself, or for ``auto`` by size and session.

    Raises:
        MonitoringError: for an engine not in :data:`ENGINES`, or ``spark`` without a session.
    """
    if engine not in ENGINES:
        raise MonitoringError(
            f"drift engine {engine!r} is not one of {', '.join(ENGINES)}",
            "pass engine='auto' (by size), 'pandas' (in process) or 'spark'",
        )
    if engine == "spark" and spark is None:
        raise MonitoringError(
            "drift engine 'spark' needs an active Spark session, and none is",
            "measure drift inside the scoring job, or pass engine='pandas'",
        )
    if engine != "auto":
        return engine
    chosen = "spark" if spark is not None and rows > AUTO_MAX_ROWS else "pandas"
    log.info("drift engine auto: %d rows scored -> %s", rows, chosen)
    return chosen


def _probabilities(scores: Any) -> Any:
    """The probability column as compare() takes it: 1-D (binary) or one row of class probabilities each."""
    import numpy as np

    if "probability" not in scores:
        return None
    column = scores["probability"]
    return np.vstack(column.to_numpy()) if column.dtype == object else column.to_numpy()


def _pandas_summary(
    settings: Settings, keys: list[str], result: ScoreResult, profile: Profile, thresholds: ModelThresholds
) -> Summary:
    vectors = results.read_features(result.model, result.run_date, settings, version=result.scoring_set_version)
    outputs = [c for c in ("prediction", "probability") if c in result.columns]
    scores = results.read(
        result.model, result.run_date, settings, columns=[*keys, AS_OF, *outputs], version=result.table_version
    )
    vectors = vectors.drop(columns=_RUN_COLUMNS)
    join = [*keys, AS_OF]
    if same_rows(vectors, scores, join):
        # Every summary is of one column, so rows need no pairing when both sides hold the same keys
        # once each: 0.9 s for the check of 5M rows, 6.4 s for pandas' validated merge.
        scored, current = scores, vectors
    else:
        scored = _merged(vectors, scores, join, result)
        current = scored.drop(columns=outputs)
    return summarize(
        profile,
        current,
        scored["prediction"] if "prediction" in scored else None,
        _probabilities(scored),
        thresholds=thresholds,
    )


def same_rows(left: "pd.DataFrame", right: "pd.DataFrame", keys: list[str]) -> bool:
    """Whether both frames hold the same rows of ``keys``, each once (in any order).

    Compared by a 64-bit hash of each row's keys; keys of different types compare unequal. A
    false ``False`` (a hash collision) only costs the caller its slower path.
    """
    import numpy as np
    import pandas as pd

    if len(left) != len(right) or [left[k].dtype for k in keys] != [right[k].dtype for k in keys]:
        return False
    hashed = [np.sort(pd.util.hash_pandas_object(frame[keys], index=False).to_numpy()) for frame in (left, right)]
    return bool(np.array_equal(*hashed) and np.all(np.diff(hashed[0]) != 0))


def _merged(vectors: "pd.DataFrame", scores: "pd.DataFrame", join: list[str], result: ScoreResult) -> "pd.DataFrame":
    """The scored vectors: each row of the scoring set with its scores, one to one.

    Raises:
        MonitoringError: a key is in either partition more than once.
    """
    import pandas as pd

    try:
        scored = vectors.merge(scores, on=join, how="inner", validate="one_to_one")
    except pd.errors.MergeError as exc:
        raise MonitoringError(
            f"the scoring set and the scores of {result.model} on {result.run_date} do not hold each "
            f"({', '.join(join)}) once: {exc}",
            f"re-run the scoring job for {result.run_date}; it replaces that date's rows of both tables",
        ) from exc
    if len(scored) < max(len(vectors), len(scores)):
        log.warning(
            "drift of %s on %s: %d scoring-set rows and %d scores, %d of them paired; the others are left out",
            result.model,
            result.run_date,
            len(vectors),
            len(scores),
            len(scored),
        )
    return scored


def _spark_summary(
    spark: "SparkSession",
    settings: Settings,
    keys: list[str],
    result: ScoreResult,
    profile: Profile,
    thresholds: ModelThresholds,
) -> Summary:
    from pyspark.sql import functions as F

    from mlplatform.monitoring import spark_summary

    day = F.col("run_date") == F.lit(result.run_date).cast("date")
    vectors = tables.read(
        spark, tables.table_uri(settings, "scoring_sets", result.model), version=result.scoring_set_version
    ).where(day)
    outputs = [c for c in ("prediction", "probability") if c in result.columns]
    scores = tables.read(
        spark, result.table, version=result.table_version, columns=[*keys, AS_OF, *outputs, "run_date"]
    )
    scored = vectors.drop(*_RUN_COLUMNS).join(scores.where(day).drop("run_date"), on=[*keys, AS_OF], how="inner")
    return spark_summary.summarize(
        scored,
        profile,
        thresholds=thresholds,
        outputs=spark_summary.output_expressions(scored, profile, "prediction", "probability"),
    )


def _active_session() -> "SparkSession | None":
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def measure_drift(
    settings: Settings,
    keys: list[str],
    result: ScoreResult,
    engine: str = "auto",
    spark: "SparkSession | None" = None,
) -> str | None:
    """Drift and data quality of the run ``result`` wrote; its overall status (None without a reference profile).

    Args:
        keys: the entity keys joining the scoring set to the scores (with ``as_of``).
        engine: ``auto``, ``pandas`` (in process) or ``spark`` (one aggregation pass).
        spark: the session for the ``spark`` engine (default the active one).

    Raises:
        MonitoringError: as :func:`choose_engine`; a malformed scored column, naming it.
    """
    spark = spark or _active_session()
    engine = choose_engine(engine, result.rows, spark)
    try:
        profile = read_profile(settings, result.model, result.model_version)
    except NoProfileError:
        log.info(
            "model:%s@%s has no reference profile (registered before profiles were kept): drift not measured",
            result.model,
            result.model_version,
        )
        return None
    thresholds = model_thresholds(result.model)
    started = time.monotonic()
    if engine == "spark":
        summary = _spark_summary(spark, settings, keys, result, profile, thresholds)
    else:
        summary = _pandas_summary(settings, keys, result, profile, thresholds)
    log.info(
        "drift of %s on %s: %d rows x %d columns summarised on the reference bins (%s engine) in %.1f s",
        profile.subject,
        result.run_date,
        summary.rows,
        len(summary.columns),
        engine,
        time.monotonic() - started,
    )
    report = compare_summary(profile, summary, thresholds=thresholds)
    write_drift(settings, report, run_date=result.run_date, job_run=result.run_id)
    flagged = report.flagged()
    log.info(
        "drift of %s on %s against its reference: %s (%d of %d columns flagged%s)",
        profile.subject,
        result.run_date,
        report.status,
        len(flagged),
        len(report.columns),
        ": " + ", ".join(f"{c.feature} {c.status}" for c in flagged[:8]) if flagged else "",
    )
    return report.status
