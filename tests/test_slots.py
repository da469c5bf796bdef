"""Task slots read from a session's conf, and how a search groups its fits into Spark tasks."""

from __future__ import annotations

import itertools
import os

import pytest

from mlplatform.launch.slots import task_slots
from mlplatform.training.runner import SHARE, task_sizes


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
def test_fits_are_handed_out_in_shrinking_groups_and_one_each_when_unbounded(slots):
    for fits in range(1, 700):
        sizes = task_sizes(fits, slots)
        assert sum(sizes) == fits and min(sizes) >= 1
        assert sizes == sorted(sizes, reverse=True)  # large groups first, single fits last
        left = list(itertools.accumulate(sizes[::-1]))[::-1]  # fits not yet handed out before each task
        assert all(size == max(rest // (SHARE * slots), 1) for size, rest in zip(sizes, left))
        assert sizes[-min(fits, slots) :] == [1] * min(fits, slots)  # every slot ends on a single fit
        if fits >= 8 * SHARE * slots:
            assert len(sizes) <= fits / 2  # most fits skip a task launch
        assert task_sizes(fits, None) == [1] * fits  # unbounded slots: one fit per task
        given = task_sizes(fits, slots, given=3)
        assert given == task_sizes(fits, None, given=3) and sum(given) == fits
        assert given[:-1] == [3] * (len(given) - 1) and 1 <= given[-1] <= 3
