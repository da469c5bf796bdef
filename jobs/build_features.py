"""spark-submit driver: materialize registered feature sets into <warehouse>/features/<name>.

    mlp submit build_features --name account_activity [--name ...] [--all] [--mode merge|append|overwrite]

Each set is checked against its definition before its one commit; a failed check
exits 1 with the reason, leaving that table unchanged.
"""

from __future__ import annotations

import argparse
import logging
import sys

from mlplatform import logconf
from mlplatform.config import load_settings
from mlplatform.errors import PlatformError
from mlplatform.features import ingest, registry
from mlplatform.launch.session import session

log = logging.getLogger("mlp.jobs.build_features")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_features", description=__doc__)
    parser.add_argument("--name", action="append", default=[], help="feature set to ingest (repeatable)")
    parser.add_argument("--all", action="store_true", help="every registered feature set")
    parser.add_argument("--mode", choices=["merge", "append", "overwrite"], default=None)
    args = parser.parse_args(argv)
    logconf.setup()
    spark = None
    try:
        settings = load_settings()
        names = [r.name for r in registry.registered(settings)] if args.all else args.name
        if not names:
            parser.error("pass --name NAME (repeatable) or --all")
        for name in names:
            registry.get(settings, name)  # unknown names fail before Spark starts
        spark = session(app_name="mlp-build-features")
        for name in names:
            result = ingest(spark, settings, name, mode=args.mode)
            log.info("%s: %d rows (%s)", result.id, result.rows, result.mode)
    except PlatformError as exc:
        log.error("%s", exc.render())
        return 1
    finally:
        if spark is not None:
            spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
