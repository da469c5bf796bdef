"""spark-submit driver: score a table with a registered model into ``<warehouse>/scores/<model>``.

    mlp score MODEL@ALIAS|VERSION --input FEATURES_OR_TABLE [--run-date YYYY-MM-DD]
    mlp submit --env ENV_ID score MODEL@VERSION --input ... [--keys a,b] [--where SQL] [--summary FILE]

Run through ``mlp score`` (which pins the version and ships the model's environment)
or ``mlp submit --env``. Started outside spark-submit (``python jobs/score.py``) it
creates its own session in the model's environment. Exit code 0 on success, 1 on a
platform error (the message names the object and the fix); ``--summary`` gets one
JSON object either way.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from mlplatform import logconf
from mlplatform.config import load_settings
from mlplatform.errors import PlatformError
from mlplatform.launch.session import session, under_spark_submit
from mlplatform.scoring import batch
from mlplatform.tracking import model_registry

log = logging.getLogger("mlp.jobs.score")


def _write_summary(path: str | None, payload: dict[str, object]) -> None:
    if path:
        with open(path, "w") as fh:
            json.dump(payload, fh, sort_keys=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="score", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="MODEL@ALIAS or MODEL@VERSION (default alias: champion)")
    parser.add_argument("--input", required=True, help="feature set (NAME, fs:NAME@vN) or Delta table path/URI")
    parser.add_argument("--run-date", default=None, help="YYYY-MM-DD partition to (re)write (default: today, UTC)")
    parser.add_argument("--keys", default=None, help="comma-separated columns to copy next to each prediction")
    parser.add_argument("--where", default=None, help="Spark SQL filter on the input rows")
    parser.add_argument("--input-version", type=int, default=None, help="Delta version of the input (default: current)")
    parser.add_argument("--run-id", default=None, help="id of this scoring run (default: generated)")
    parser.add_argument("--summary", default=None, help="write the result (or the error) here as JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one log line per step, not a progress bar
    logconf.setup()
    spark = None
    try:
        settings = load_settings()
        day = batch.parse_run_date(args.run_date)
        info = model_registry.resolve(args.model, settings)
        env = None if under_spark_submit() else info.env_id
        spark = session(app_name=f"mlp-score-{info.name}", settings=settings, env=env)
        keys = [k for k in args.keys.split(",") if k] if args.keys else None
        result = batch.score(
            spark,
            settings,
            f"{info.name}@{info.version}",
            args.input,
            day,
            keys=keys,
            where=args.where,
            input_version=args.input_version,
            run_id=args.run_id,
        )
    except PlatformError as exc:
        log.error("%s", exc.render())
        _write_summary(args.summary, {"ok": False, "error": exc.render()})
        return 1
    finally:
        if spark is not None:
            spark.stop()
    _write_summary(args.summary, {"ok": True, **json.loads(result.to_json())})
    sys.stdout.write(result.to_json() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
