"""spark-submit driver: tune, refit, log and register a model.

    mlp submit [--profile local-cluster] [--env ENV] tune MODEL [--training-set-version N]
        [--code-version V] [--out result.json]

Exit codes: 0 registered, 1 error, 2 a threshold was missed (run kept, not registered).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict

from mlplatform import logconf
from mlplatform.errors import EXIT_THRESHOLD_MISSED, PlatformError
from mlplatform.launch.session import session
from mlplatform.training.spec import load_spec
from mlplatform.training.train import summary_lines, train

log = logging.getLogger("mlp.jobs.tune")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="model name (conf/models/MODEL.yaml) or a spec file")
    parser.add_argument("--training-set-version", type=int, default=None)
    parser.add_argument("--code-version", default=None)
    parser.add_argument("--out", default=None, help="write the result as JSON here")
    args = parser.parse_args(argv)
    logconf.setup()
    try:
        spec = load_spec(args.model)
        result = train(spec, spark=None, training_set_version=args.training_set_version, code_version=args.code_version)
    except PlatformError as exc:
        log.error("%s", exc.render())
        return 1
    for line in summary_lines(result):
        log.info("%s", line)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({**asdict(result), "model_id": result.model_id}, fh, default=str, indent=1)
    session().stop()
    return EXIT_THRESHOLD_MISSED if result.misses else 0


if __name__ == "__main__":
    sys.exit(main())
