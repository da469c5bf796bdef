"""Drift of one scoring run from the feature repository, against its model version's reference profile.

After a run has committed its scores and scoring set, :func:`measure_drift` reads both
partitions back (deltalake, no Spark), compares the scored feature vectors and the
model's outputs with the profile stored at registration, and replaces the run date's rows
of ``<warehouse>/_platform/monitoring/drift``. A version registered before profiles existed
has none: the run says so and measures nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from mlplatform.config import Settings
from mlplatform.errors import NoProfileError
from mlplatform.features.scoring_sets import AS_OF
from mlplatform.monitoring import compare
from mlplatform.monitoring.config import model_thresholds
from mlplatform.monitoring.store import read_profile, write_drift
from mlplatform.scoring import results
from mlplatform.scoring.batch import ScoreResult

__all__ = ["measure_drift"]

log = logging.getLogger(__name__)


def _probabilities(scores: Any) -> Any:
    """The probability column as compare() takes it: 1-D (binary) or one row of class probabilities each."""
    import numpy as np

    if "probability" not in scores:
        return None
    column = scores["probability"]
    return np.vstack(column.to_numpy()) if column.dtype == object else column.to_numpy()


def measure_drift(settings: Settings, keys: list[str], result: ScoreResult) -> str | None:
    """Drift and data quality of the run ``result`` wrote; its overall status (None without a reference profile)."""
    try:
        profile = read_profile(settings, result.model, result.model_version)
    except NoProfileError:
        log.info(
            "model:%s@%s has no reference profile (registered before profiles were kept): drift not measured",
            result.model,
            result.model_version,
        )
        return None
    vectors = results.read_features(result.model, result.run_date, settings, version=result.scoring_set_version).drop(
        columns=["model_version", "scoring_run_id", "run_date"]
    )
    outputs = [c for c in ("prediction", "probability") if c in result.columns]
    scores = results.read(
        result.model, result.run_date, settings, columns=[*keys, AS_OF, *outputs], version=result.table_version
    )
    scored = vectors.merge(scores, on=[*keys, AS_OF], how="inner", validate="one_to_one")
    report = compare(
        profile,
        scored.drop(columns=outputs),
        scored["prediction"] if "prediction" in scored else None,
        _probabilities(scored),
        thresholds=model_thresholds(result.model),
    )
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
