"""spark-submit driver: build a point-in-time training set as a new version of <warehouse>/training_sets/<name>.

    mlp submit build_trainset --spec churn [--engine auto|pandas|spark]

With ``auto`` the join runs in the driver's memory when the inputs are small, and
on the cluster otherwise; the rows are the same either way.
"""

from __future__ import annotations

import argparse

from mlplatform.features.trainsets import build_job
from mlplatform.launch import jobrun


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_trainset", description=__doc__)
    parser.add_argument("--spec", required=True, help="spec name in conf/trainsets/ or a YAML path")
    parser.add_argument("--engine", choices=["auto", "pandas", "spark"], default=None)
    parser.add_argument("--summary", default=None, help="write the result (or the error) here as JSON")
    args = parser.parse_args(argv)
    return jobrun.run("build_trainset", lambda: build_job(args.spec, engine=args.engine), args.summary)


if __name__ == "__main__":
    raise SystemExit(main())
