"""Task slots read from a session's conf, and how a search groups its fits into Spark tasks."""

from __future__ import annotations

import os

import pytest

from mlplatform.launch.slots import task_slots
from mlplatform.training.runner import WAVES, fits_per_task


@pytest.mark.parametrize(
    ("conf", "slots"),
    [
        ({"spark.master": "local"}, 1),
        ({"spark.master": "local[3]"}, 3),
        ({"spark.master": "local[4, 2]"}, 4),
        ({"spark.master": "local[*]"}, os.cpu_count()),
        ({"spark.master": "local[4]", "spark.task.cpus": "2"}, 2),
        ({"spark.master": "local[1]", "spark.task.cpus": "2"}, 1),
        ({"spark.master": "local-cluster[2,1,1024]"}, 2),
        ({"spark.master": "local-cluster[3, 2, 512]", "spark.task.cpus": "2"}, 3),
        ({"spark.master": "yarn"}, 2),  # Spark's YARN defaults: 2 executors x 1 core
        ({"spark.master": "yarn", "spark.executor.instances": "5", "spark.executor.cores": "4"}, 20),
        (
            {
                "spark.master": "yarn",
                "spark.dynamicAllocation.enabled": "true",
                "spark.dynamicAllocation.maxExecutors": "6",
                "spark.executor.cores": "2",
            },
            12,
        ),
        ({"spark.master": "yarn", "spark.dynamicAllocation.enabled": "true", "spark.executor.cores": "2"}, None),
    ],
)
def test_task_slots_follow_the_master_executors_and_task_cpus(conf, slots):
    assert task_slots(conf) == slots


def test_fits_are_grouped_to_leave_waves_per_slot_and_never_when_unbounded():
    assert fits_per_task(96, 2) == 96 // (2 * WAVES)
    assert fits_per_task(96, 2) * 2 * WAVES <= 96
    assert fits_per_task(10, 2) == 1  # fewer fits than 8 per slot: one per task
    assert fits_per_task(10_000, None) == 1
    assert fits_per_task(96, 2, given=1) == 1 and fits_per_task(96, None, given=4) == 4
