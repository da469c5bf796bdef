"""What ``batch.plan`` asks of Spark: no input row goes to the driver for the probe, which reports an empty input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scoring_support import registered_input
from spark_jobs import job_group

from mlplatform.errors import ScoringError

RUN_DATE = "2024-09-03"


@pytest.fixture(scope="module")
def churn(hgb: Any, module_home: Path, spark: Any) -> dict[str, Any]:
    """An HGB classifier registered as churn_jobs@champion and a 4-file feature table of 2,000 rows."""
    return registered_input(module_home, spark, hgb, "churn_jobs", 2000, seed=3, files=4)


def test_the_probe_brings_no_input_rows_to_the_driver(spark: Any, settings: Any, churn: dict[str, Any]) -> None:
    from mlplatform import tables
    from mlplatform.scoring import batch

    tables.read(spark, churn["uri"]).count()  # the input's Delta snapshot is computed outside the measured group
    with job_group(spark, "batch.plan") as group:
        run = batch.plan(spark, settings, "churn_jobs", churn["uri"], RUN_DATE)
    jobs = group.stage_names()
    assert jobs and "collect at" in jobs[-1], jobs  # the probe's report, the last job
    assert not [j for j in jobs if "take at" in j], jobs  # no job takes sample rows to the driver
    assert run.sample["sample_rows"] > 0
    assert "HistGradientBoostingClassifier" in run.sample["estimator"]
    assert run.spec.proba == "binary"


def test_an_input_filtered_to_nothing_is_refused_by_the_probe(spark: Any, settings: Any, churn: dict[str, Any]) -> None:
    from mlplatform.scoring import batch

    with pytest.raises(ScoringError, match=r"input .*churn_jobs@v0 has no rows to score"):
        batch.plan(spark, settings, "churn_jobs", churn["uri"], RUN_DATE, where="customer_id < 0")
