"""spark-submit driver: tune, refit, log and register a model. Exit 0 registered, 1 error, 2 a threshold missed."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from mlplatform.errors import EXIT_OK, EXIT_THRESHOLD_MISSED
from mlplatform.launch import jobrun
from mlplatform.training.train import summary_lines, train


def _tune(a: argparse.Namespace) -> jobrun.JobResult:
    result = train(a.model, training_set_version=a.training_set_version, code_version=a.code_version)
    jobrun.write_json(a.out, {**asdict(result), "model_id": result.model_id}, indent=1, sort_keys=False)
    return jobrun.JobResult(summary_lines(result), exit_code=EXIT_THRESHOLD_MISSED if result.misses else EXIT_OK)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tune", description=__doc__)
    p.add_argument("model", help="model name (conf/models/MODEL.yaml) or a spec file")
    p.add_argument("--training-set-version", type=int, default=None)
    p.add_argument("--code-version", default=None)
    p.add_argument("--out", default=None, help="write the result as JSON here (also when a threshold is missed)")
    a = p.parse_args(argv)
    return jobrun.run("tune", lambda: _tune(a))


if __name__ == "__main__":
    raise SystemExit(main())
