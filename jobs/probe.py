"""spark-submit driver: print one JSON line per executor task (interpreter, package versions).

    mlp submit probe [--packages scikit-learn,pandas] [--tasks N] [--out FILE] [--driver-out FILE]

``--driver-out`` writes the same report for the driver itself, with the project and
settings it sees (in YARN cluster mode the driver runs in a container).
"""

from __future__ import annotations

import argparse

from mlplatform.launch import jobrun
from mlplatform.launch.probing import probe_job


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="probe", description=__doc__)
    parser.add_argument("--packages", default="scikit-learn,pandas,pyarrow,numpy")
    parser.add_argument("--tasks", type=int, default=None)
    parser.add_argument("--out", default=None, help="write the reports as JSON lines here")
    parser.add_argument("--driver-out", default=None, help="write the driver's own report as JSON here")
    a = parser.parse_args(argv)
    packages = [p for p in a.packages.split(",") if p]
    return jobrun.run("probe", lambda: probe_job(packages, a.tasks, out=a.out, driver_out=a.driver_out))


if __name__ == "__main__":
    raise SystemExit(main())
