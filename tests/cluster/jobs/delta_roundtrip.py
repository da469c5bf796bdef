"""Cluster-tier driver: write a Delta table on hdfs:// with Spark on YARN, read it back, print a JSON summary.

mlp submit --profile yarn tests/cluster/jobs/delta_roundtrip.py hdfs://.../table
"""

from __future__ import annotations

import json
import sys

from mlplatform import tables
from mlplatform.launch.session import session


def main(argv: list[str]) -> int:
    uri = argv[0]
    spark = session(app_name="mlp-delta-roundtrip")
    rows = spark.range(0, 500, numPartitions=4).selectExpr(
        "id", "cast(id % 5 as int) as part", "cast(id as double) / 4 as x", "concat('row-', id) as label"
    )
    first = tables.write(rows, uri, mode="overwrite", partition_by=["part"])
    extra = rows.where("part = 2").selectExpr("id + 1000 as id", "part", "x", "label")
    second = tables.write(extra, uri, mode="append")
    summary = {
        "versions": [first, second],
        "rows": tables.read(spark, uri).count(),
        "rows_at_first": tables.read(spark, uri, version=first).count(),
        "containers": sorted(set(spark.sparkContext.parallelize(range(4), 4).map(_container).collect())),
    }
    print(json.dumps(summary))
    spark.stop()
    return 0


def _container(_: int) -> str:
    """The working directory's name: a YARN container id on the executors."""
    import os

    return os.path.basename(os.getcwd())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
