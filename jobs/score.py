"""spark-submit driver (``mlp score`` submits it): score a table with a model into <warehouse>/scores/<model>.

Exit 0, else the platform error's exit code; ``--summary FILE`` gets one JSON object either way."""

from __future__ import annotations

import argparse

from mlplatform.launch import jobrun
from mlplatform.scoring.batch import run_scoring_job


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="score", description=__doc__)
    p.add_argument("model", help="MODEL@ALIAS or MODEL@VERSION (default alias: champion)")
    p.add_argument("--input", required=True, help="feature set (NAME, fs:NAME@vN) or Delta table path/URI")
    p.add_argument("--run-date", default=None, help="YYYY-MM-DD partition to (re)write (default: today, UTC)")
    p.add_argument("--keys", type=lambda s: [k for k in s.split(",") if k] or None, help="columns to copy: a,b")
    p.add_argument("--where", default=None, help="Spark SQL filter on the input rows")
    p.add_argument("--input-version", type=int, default=None, help="Delta version of the input (default: current)")
    p.add_argument("--run-id", default=None, help="id of this scoring run (default: generated)")
    p.add_argument("--summary", default=None, help="write the result (or the error) here as JSON")
    a = p.parse_args(argv)
    job = lambda: run_scoring_job(a.model, a.input, a.run_date, a.keys, a.where, a.input_version, a.run_id)  # noqa: E731
    return jobrun.run("score", job, a.summary)


if __name__ == "__main__":
    raise SystemExit(main())
