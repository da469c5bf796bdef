"""Plots and data files of a held-out evaluation, drawn on the driver from returned numbers.

The executor returns curve points, the confusion matrix and importances as plain
lists; these functions turn them into PNG plots and JSON files in a folder that
is then logged as MLflow artifacts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["write_evaluation"]


def _figure():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt, plt.subplots(figsize=(5, 4), dpi=100)


def _curve(
    path: Path,
    x: list[float],
    y: list[float],
    label: str,
    title: str,
    axes: tuple[str, str],
    reference: tuple[Any, str],
) -> None:
    """One curve with a dashed reference (the diagonal, or a horizontal base rate)."""
    plt, (fig, ax) = _figure()
    ax.plot(x, y, label=label)
    line, ref_label = reference
    if line == "diagonal":
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label=ref_label)
    else:
        ax.axhline(line, linestyle="--", color="grey", linewidth=1, label=ref_label)
    ax.set(xlabel=axes[0], ylabel=axes[1], title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right" if line == "diagonal" else "lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _roc(evaluation: dict[str, Any], path: Path, title: str) -> None:
    roc, auc = evaluation["roc_curve"], evaluation["metrics"].get("roc_auc", float("nan"))
    _curve(
        path,
        roc["fpr"],
        roc["tpr"],
        f"ROC-AUC {auc:.3f}",
        f"ROC curve — {title}",
        ("false positive rate", "true positive rate"),
        ("diagonal", "chance"),
    )


def _pr(evaluation: dict[str, Any], path: Path, title: str) -> None:
    pr, ap = evaluation["pr_curve"], evaluation["metrics"].get("average_precision", float("nan"))
    base = evaluation["positives"] / max(evaluation["rows"], 1)
    _curve(
        path,
        pr["recall"],
        pr["precision"],
        f"AP {ap:.3f}",
        f"Precision-recall — {title}",
        ("recall", "precision"),
        (base, f"base rate {base:.3f}"),
    )


def _confusion(evaluation: dict[str, Any], path: Path, title: str) -> None:
    plt, (fig, ax) = _figure()
    cm = evaluation["confusion_matrix"]
    matrix, labels = cm["matrix"], [str(v) for v in cm["labels"]]
    ax.imshow(matrix, cmap="Blues")
    top = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > top / 2 else "black")
    ax.set(
        xticks=range(len(labels)),
        yticks=range(len(labels)),
        xticklabels=labels,
        yticklabels=labels,
        xlabel="predicted",
        ylabel="actual",
        title=f"Confusion matrix — {title}",
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _reliability(evaluation: dict[str, Any], path: Path, title: str) -> None:
    points, brier = evaluation["reliability"], evaluation["metrics"].get("brier", float("nan"))
    _curve(
        path,
        points["predicted"],
        points["observed"],
        f"Brier {brier:.4f}",
        f"Reliability — {title}",
        ("mean predicted probability", "observed positive rate"),
        ("diagonal", "perfectly calibrated"),
    )


def _importances(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    plt, (fig, ax) = _figure()
    shown = rows[:20][::-1]
    ax.barh([r["feature"] for r in shown], [r["importance"] for r in shown])
    ax.set(xlabel="importance", title=f"Feature importances — {title}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_evaluation(evaluation: dict[str, Any], folder: str | Path, title: str) -> list[Path]:
    """Write ``plots/*.png`` and ``evaluation/*.json`` under ``folder``; return the files."""
    root = Path(folder)
    plots, data = root / "plots", root / "evaluation"
    plots.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    parts = {
        "roc_curve": _roc,
        "pr_curve": _pr,
        "confusion_matrix": _confusion,
    }
    written = []
    for name, draw in parts.items():
        draw(evaluation, plots / f"{name}.png", title)
        (data / f"{name}.json").write_text(json.dumps(evaluation[name], indent=1))
        written += [plots / f"{name}.png", data / f"{name}.json"]
    if evaluation.get("reliability"):
        _reliability(evaluation, plots / "reliability.png", title)
        (data / "reliability.json").write_text(json.dumps(evaluation["reliability"], indent=1))
        written += [plots / "reliability.png", data / "reliability.json"]
    if evaluation.get("feature_importances"):
        _importances(evaluation["feature_importances"], plots / "feature_importances.png", title)
        (data / "feature_importances.json").write_text(json.dumps(evaluation["feature_importances"], indent=1))
        written += [plots / "feature_importances.png", data / "feature_importances.json"]
    (data / "metrics.json").write_text(json.dumps(evaluation["metrics"], indent=1, sort_keys=True))
    written.append(data / "metrics.json")
    return written
