"""spark-submit driver: print one JSON line per executor task (interpreter, package versions).

    mlp submit probe [--packages scikit-learn,pandas] [--tasks N] [--out FILE] [--driver-out FILE]

``--driver-out`` writes the same report for the driver itself, with the project and
settings it sees (in YARN cluster mode the driver runs in a container).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from mlplatform import logconf
from mlplatform.config import load_settings, project_root
from mlplatform.launch.session import session
from mlplatform.probe import executor_report, report_from

log = logging.getLogger("mlp.jobs.probe")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="probe", description=__doc__)
    parser.add_argument("--packages", default="scikit-learn,pandas,pyarrow,numpy")
    parser.add_argument("--tasks", type=int, default=None)
    parser.add_argument("--out", default=None, help="write the reports as JSON lines here")
    parser.add_argument("--driver-out", default=None, help="write the driver's own report as JSON here")
    args = parser.parse_args(argv)
    logconf.setup()
    spark = session(app_name="mlp-probe")
    packages = [p for p in args.packages.split(",") if p]
    if args.driver_out:
        driver = {**report_from(packages), "project": str(project_root()), "settings": load_settings().public()}
        with open(args.driver_out, "w") as fh:
            json.dump(driver, fh, sort_keys=True)
    reports = executor_report(spark, packages, args.tasks)
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
