"""spark-submit driver for the tables tests: append batches to a table, optionally holding one task.

    mlp submit tests/tables/drivers/writer.py --table T --tag A [--batches N] [--rows R] [--hold DIR]

With ``--hold DIR`` the write runs two tasks: one writes its file, the other touches
``DIR/started`` and waits for ``DIR/released`` (a test kills the job meanwhile).
"""

from __future__ import annotations

import argparse
import sys

from mlplatform import tables
from mlplatform.launch.session import session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="writer")
    parser.add_argument("--table", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--batches", type=int, default=1)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--hold", default=None)
    args = parser.parse_args(argv)
    spark = session(app_name=f"writer-{args.tag}", conf={"spark.sql.shuffle.partitions": "2"})
    from pyspark.sql import functions as F

    for batch in range(args.batches):
        df = spark.range(args.rows).select(F.lit(args.tag).alias("writer"), F.lit(batch).alias("batch"), F.col("id"))
        if args.hold:
            started, released = f"{args.hold}/started", f"{args.hold}/released"

            def hold(part: int, started: str = started, released: str = released) -> int:
                import os
                import time

                if part == 1:
                    open(started, "w").close()
                    while not os.path.exists(released):
                        time.sleep(0.05)
                return part

            held = F.udf(hold, "int")
            df = df.repartition(2, "id").withColumn("part", held(F.spark_partition_id()))
        version = tables.write(df, args.table, metadata={"job": f"writer-{args.tag}", "batch": batch})
        print(f"{args.tag} batch {batch} -> version {version}", flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
