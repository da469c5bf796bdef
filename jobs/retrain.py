"""spark-submit driver: retrain a model for a run date, benchmark it, promote or keep.

Exit codes (for schedulers): 0 done (promoted, kept, or already done for this run
date), 1 error, 3 unknown model, 4 no champion, 99 no new labelled data.
"""

from __future__ import annotations

import argparse

from mlplatform.launch import jobrun
from mlplatform.lifecycle.retrain import retrain


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="retrain", description=__doc__)
    p.add_argument("model", help="model name (conf/models/MODEL.yaml)")
    p.add_argument("--run-date", required=True, help="YYYY-MM-DD")
    p.add_argument("--margin", type=float, default=None, help="promotion margin (default: conf/lifecycle.yaml)")
    p.add_argument("--force", action="store_true", help="retrain even if the run date was already benchmarked")
    p.add_argument("--code-version", default=None)
    p.add_argument("--summary", default=None, help="write the outcome (or the error) here as JSON")
    a = p.parse_args(argv)
    job = lambda: retrain(a.model, a.run_date, margin=a.margin, force=a.force, code_version=a.code_version)  # noqa: E731
    return jobrun.run("retrain", job, a.summary)


if __name__ == "__main__":
    raise SystemExit(main())
