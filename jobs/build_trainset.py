"""spark-submit driver: build a point-in-time training set as a new version of <warehouse>/training_sets/<name>.

    mlp submit build_trainset --spec churn [--engine auto|pandas|spark]

With ``auto`` the join runs in the driver's memory when the inputs are small, and
on the cluster otherwise; the rows are the same either way.
"""

from __future__ import annotations

import argparse
import logging
import sys

from mlplatform import logconf
from mlplatform.config import load_settings
from mlplatform.errors import PlatformError
from mlplatform.features.definitions import load_trainset_spec
from mlplatform.features.trainsets import build, choose_engine, plan
from mlplatform.launch.session import session

log = logging.getLogger("mlp.jobs.build_trainset")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_trainset", description=__doc__)
    parser.add_argument("--spec", required=True, help="spec name in conf/trainsets/ or a YAML path")
    parser.add_argument("--engine", choices=["auto", "pandas", "spark"], default=None)
    args = parser.parse_args(argv)
    logconf.setup()
    spark = None
    try:
        settings = load_settings()
        spec = load_trainset_spec(args.spec)
        engine = args.engine or spec.engine
        if engine == "auto":
            engine = choose_engine(plan(settings, spec))
        spark = session(app_name=f"mlp-build-trainset-{spec.name}") if engine == "spark" else None
        result = build(spec, settings, engine=engine, spark=spark)
        log.info("%s: %d rows with %s in %.1fs", result.id, result.rows, result.engine, result.seconds)
    except PlatformError as exc:
        log.error("%s", exc.render())
        return 1
    finally:
        if spark is not None:
            spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
