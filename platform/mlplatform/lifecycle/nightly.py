"""The nightly retrain run for schedulers: every model of ``conf/lifecycle.yaml``, one run date.

``scripts/nightly-retrain [RUN_DATE] [--models a,b]`` calls :func:`main`. Each model is
retrained by its own ``mlp retrain`` process (one SparkContext, in the model's
environment, per model), so one failing model does not stop the others. One log line
per step goes to stderr; each model's full output goes to
``<home>/logs/nightly-retrain/<run date>/<model>.log``.

Each ``mlp retrain`` first brings the model's realized performance up to date and
evaluates its retraining triggers (``conf/lifecycle.yaml``): with ``retrain_on: triggers``
a model retrains only when one fires; a fired trigger leads its log line.

Exit code: 0 when every model finished (promoted, kept, already done, or skipped), 99
when every model was skipped — no new labelled data, or no trigger fired (Airflow marks
the task skipped), 1 when any model failed, 2 for a bad run date or configuration.
A run date already benchmarked is not retrained again: re-running is safe.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from mlplatform import logconf
from mlplatform.config import Settings, load_settings
from mlplatform.dates import parse_run_date
from mlplatform.errors import EXIT_NO_NEW_DATA, LifecycleError, PlatformError
from mlplatform.lifecycle.gates import load_config
from mlplatform.training.spec import spec_names

__all__ = ["Outcome", "run", "main"]

log = logging.getLogger("mlp.nightly-retrain")


@dataclass(frozen=True)
class Outcome:
    """How one model's nightly retrain ended."""

    model: str
    exit_code: int
    detail: str
    seconds: float

    @property
    def status(self) -> str:
        return {0: "ok", EXIT_NO_NEW_DATA: "skipped"}.get(self.exit_code, "FAILED")


def _models(explicit: Sequence[str] | None, config_file: str | None) -> list[str]:

    return list(explicit or load_config(config_file).nightly or spec_names())


def _retrain_one(model: str, day: str, logs: Path, config_file: str | None) -> Outcome:
    started = time.monotonic()
    summary = logs / f"{model}.json"
    summary.unlink(missing_ok=True)
    job_log = logs / f"{model}.log"
    command = [
        str(Path(sys.executable).with_name("mlp")),
        "retrain",
        model,
        "--run-date",
        day,
        "--summary",
        str(summary),
    ]
    if config_file:
        command += ["--lifecycle-conf", config_file]
    log.info("%s: retraining for %s (log: %s)", model, day, job_log)
    with open(job_log, "w") as out:
        code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode
    result = json.loads(summary.read_text()) if summary.is_file() else {}
    if result.get("ok"):
        reasons = [result["trigger"]] if result.get("trigger") else []
        detail = f"{result['decision']}: " + "; ".join(reasons + list(result.get("reasons") or []))
    else:
        detail = result.get("error") or f"mlp retrain exited with code {code}; see {job_log}"
    return Outcome(model, code, detail, time.monotonic() - started)


def run(
    run_date: str, models: Sequence[str] | None = None, config_file: str | None = None, settings: Settings | None = None
) -> list[Outcome]:
    """Retrain every model for ``run_date``; never stops at a failing model."""

    settings = settings or load_settings()
    day = parse_run_date(run_date, LifecycleError, "--run-date 2026-05-01").isoformat()
    names = _models(models, config_file)
    logs = Path(settings.home) / "logs" / "nightly-retrain" / day
    logs.mkdir(parents=True, exist_ok=True)
    log.info("run date %s: %d model(s): %s", day, len(names), ", ".join(names))
    outcomes = []
    for model in names:
        outcome = _retrain_one(model, day, logs, config_file)
        log.info(
            "%s: %s in %.0fs (exit %d) %s", model, outcome.status, outcome.seconds, outcome.exit_code, outcome.detail
        )
        outcomes.append(outcome)
    return outcomes


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """0 all done, 99 all skipped for lack of data, 1 any failure."""
    if any(o.status == "FAILED" for o in outcomes):
        return 1
    if outcomes and all(o.status == "skipped" for o in outcomes):
        return EXIT_NO_NEW_DATA
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nightly-retrain", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_date", nargs="?", default=None, help="YYYY-MM-DD (default: today, UTC)")
    parser.add_argument(
        "--models",
        default=None,
        help="comma-separated model names (default: conf/lifecycle.yaml 'nightly', else every spec)",
    )
    parser.add_argument("--config", default=None, help="lifecycle policy file (default: conf/lifecycle.yaml)")
    args = parser.parse_args(argv)
    logconf.setup("%(asctime)s nightly-retrain %(levelname)s %(message)s")
    day = args.run_date or datetime.now(timezone.utc).date().isoformat()
    try:
        outcomes = run(day, [m for m in (args.models or "").split(",") if m] or None, args.config)
    except PlatformError as exc:
        log.error("%s", exc.render())
        return 2
    code = exit_code(outcomes)
    log.info(
        "done: %d ok, %d skipped, %d failed -> exit %d",
        sum(o.status == "ok" for o in outcomes),
        sum(o.status == "skipped" for o in outcomes),
        sum(o.status == "FAILED" for o in outcomes),
        code,
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
