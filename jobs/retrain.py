"""spark-submit driver: retrain a model for a run date, benchmark it, promote or keep.

    mlp submit [--env ENV] retrain MODEL --run-date YYYY-MM-DD [--margin M] [--force]

Exit codes (for schedulers): 0 done (promoted, kept, or already done for this run
date), 1 error, 3 unknown model, 4 no champion, 99 no new labelled data.
"""

from __future__ import annotations

import argparse
import logging
import sys

from mlplatform import logconf
from mlplatform.errors import PlatformError
from mlplatform.lifecycle.retrain import retrain

log = logging.getLogger("mlp.jobs.retrain")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="retrain", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="model name (conf/models/MODEL.yaml)")
    parser.add_argument("--run-date", required=True, help="YYYY-MM-DD")
    parser.add_argument("--margin", type=float, default=None, help="promotion margin (default: conf/lifecycle.yaml)")
    parser.add_argument("--force", action="store_true", help="retrain even if the run date was already benchmarked")
    parser.add_argument("--code-version", default=None)
    args = parser.parse_args(argv)
    logconf.setup()
    try:
        outcome = retrain(
            args.model, args.run_date, margin=args.margin, force=args.force, code_version=args.code_version
        )
    except PlatformError as exc:
        log.error("%s", exc.render())
        return exc.exit_code
    for line in outcome.lines():
        log.info("%s", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
