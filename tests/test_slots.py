"""Task slots read from a session's conf, and how a search groups its fits into Spark tasks."""

from __future__ import annotations

import math
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


@pytest.mark.parametrize("slots", [1, 2, 3, 16])
def test_fits_are_grouped_to_leave_waves_per_slot_and_never_when_unbounded(slots):
    wanted = slots * WAVES
    for fits in range(1, 700):
        per_task = fits_per_task(fits, slots)
        tasks = math.ceil(fits / per_task)
        assert per_task >= 1 and tasks >= min(fits, wanted)  # every slot keeps WAVES tasks to balance
        assert fits < 2 * wanted or per_task >= 2  # enough fits for 2 per task: they are grouped
        assert per_task == 1 or math.ceil(fits / (2 * per_task)) < wanted  # groups as large as that allows, within 2x
        assert fits_per_task(fits, None) == 1  # unbounded slots: one fit per task
        assert fits_per_task(fits, slots, given=3) == 3 and fits_per_task(fits, None, given=3) == 3
