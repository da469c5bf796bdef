"""The Spark jobs a block of test code ran: a job group around it, then the status tracker's record of that group."""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from typing import Any, Iterator

_numbers = itertools.count()


class JobGroup:
    """The jobs of one group, in the order Spark started them (filled when the ``with`` block ends)."""

    def __init__(self, spark: Any, name: str) -> None:
        self.spark = spark
        self.id = f"{name}-{next(_numbers)}"

    def stages(self) -> list[list[Any]]:
        """Each job's stage infos (``numTasks``, ``name``), jobs in start order."""
        tracker = self.spark.sparkContext.statusTracker()
        return [
            [info for info in (tracker.getStageInfo(s) for s in tracker.getJobInfo(job).stageIds) if info is not None]
            for job in sorted(tracker.getJobIdsForGroup(self.id))
        ]

    def task_counts(self) -> list[list[int]]:
        """Task counts of every stage of every job."""
        return [[stage.numTasks for stage in job] for job in self.stages()]

    def stage_names(self) -> list[str]:
        """Each job's stage names (call sites such as ``collect at batch.py:362``), joined by `` | ``."""
        return [" | ".join(stage.name for stage in job) for job in self.stages()]


@contextmanager
def job_group(spark: Any, name: str) -> Iterator[JobGroup]:
    """Run the block's Spark jobs in a fresh job group; the group is cleared afterwards, even on an error."""
    group = JobGroup(spark, name)
    spark.sparkContext.setJobGroup(group.id, name)
    try:
        yield group
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
