"""Evaluate one fitted model on a holdout, inside the model's own environment.

Run as ``<env python> -m mlplatform.lifecycle.evaluation REQUEST.json`` with the
platform zip on ``PYTHONPATH``. Like :mod:`mlplatform.training.executor` (whose
metric and curve code it uses, so training and benchmarks measure alike), this module
imports only the standard library, numpy, pandas, pyarrow, scikit-learn and cloudpickle:
the driver never unpickles the model.

The request is JSON::

    {"model": "<dir>/model.pkl", "data": "<holdout>.arrows", "features": [...],
     "label": "churned", "metrics": ["roc_auc", ...], "output": "<result>.json",
     "outputs": false}

and the result written to ``output`` is the training evaluation (metrics, ROC/PR curve
points, confusion matrix, rows, positives) plus ``environment`` (python, packages) and,
with ``"outputs": true``, the model's ``prediction`` and ``probability`` per row
(``outputs``: what a reference profile is built from).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mlplatform.training import executor

__all__ = ["evaluate_request", "main"]


def _load(path: str) -> Any:
    try:
        import cloudpickle as pickler
    except ImportError:  # a plain pickle reads cloudpickle output of importable classes
        import pickle as pickler  # type: ignore[no-redef]
    with open(path, "rb") as fh:
        return pickler.load(fh)


def evaluate_request(request: dict[str, Any]) -> dict[str, Any]:
    """Load the model and the holdout, evaluate, return plain data."""

    model = _load(request["model"])
    frame = executor.decode_frame(Path(request["data"]).read_bytes())
    features, label = list(request["features"]), request["label"]
    result = executor.evaluation(model, frame[features], frame[label], list(request["metrics"]), features)
    if request.get("outputs"):
        result["outputs"] = executor.model_outputs(model, frame[features])
    result["environment"] = executor.environment_report(["scikit-learn", "numpy", "pandas", "pyarrow", "cloudpickle"])
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mlplatform.lifecycle.evaluation REQUEST.json", file=sys.stderr)
        return 2
    request = json.loads(Path(args[0]).read_text())
    result = evaluate_request(request)
    Path(request["output"]).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
