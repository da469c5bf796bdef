"""spark-submit driver: print one JSON line per executor task (interpreter, package versions).

    mlp submit probe [--packages scikit-learn,pandas] [--tasks N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from mlplatform.probe import executor_report
from mlplatform.spark import session

log = logging.getLogger("mlp.jobs.probe")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="probe", description=__doc__)
    parser.add_argument("--packages", default="scikit-learn,pandas,pyarrow,numpy")
    parser.add_argument("--tasks", type=int, default=None)
    parser.add_argument("--out", default=None, help="write the reports as JSON lines here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    spark = session(app_name="mlp-probe")
    reports = executor_report(spark, [p for p in args.packages.split(",") if p], args.tasks)
    lines = [json.dumps(r, sort_keys=True) for r in reports]
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    else:
        sys.stdout.write("\n".join(lines) + "\n")
    log.info("probe: %d task reports", len(reports))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
