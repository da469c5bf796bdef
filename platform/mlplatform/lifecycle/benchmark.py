"""Champion against challenger on the same holdout: metrics side by side, ROC curves, gates.

Each model is evaluated in a subprocess running its own environment's Python
(:mod:`mlplatform.lifecycle.evaluation`), so the driver never unpickles a model and
the two models may live in different environments. The report goes to:

- MLflow: a run ``benchmark-<run date>`` in the model's experiment with both models'
  metrics (``champion_<m>``, ``challenger_<m>``), the ROC curves of both in one plot
  (``benchmark/roc.png``), the checks and the decision (``benchmark/report.json``,
  ``benchmark/report.md``);
- the Delta table ``<warehouse>/_platform/benchmarks`` (one row per benchmark);
- the lineage table: champion, challenger and holdout -> ``benchmark:<model>@<id>``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlplatform import envs, tables
from mlplatform.config import Settings
from mlplatform.errors import LifecycleError
from mlplatform.launch.zips import platform_zip
from mlplatform.lifecycle.gates import Decision, Gates, decide
from mlplatform.lineage.edges import Edge, record
from mlplatform.tracking import model_registry
from mlplatform.tracking.model_registry import TAG_METRICS, ModelVersionInfo
from mlplatform.tracking.store import configure, experiment_id, run_tags
from mlplatform.training.executor import encode_frame

__all__ = [
    "Evaluation",
    "BenchmarkReport",
    "benchmarks_table",
    "evaluate",
    "run_benchmark",
    "history",
    "BENCHMARK_COLUMNS",
]

log = logging.getLogger(__name__)

BENCHMARK_COLUMNS = [
    "benchmark_id", "model", "run_date", "at", "champion_version", "challenger_version", "holdout", "holdout_rows",
    "primary_metric", "higher_is_better", "margin", "champion_primary", "challenger_primary", "decision",
    "reasons", "metrics", "checks", "mlflow_run_id", "job_run",
]  # fmt: skip

STANDARD_METRICS = ("roc_auc", "average_precision", "accuracy", "precision", "recall", "f1", "log_loss", "brier")


@dataclass(frozen=True)
class Evaluation:
    """One model's results on the holdout, computed in its environment."""

    model_id: str
    metrics: dict[str, float]
    roc_curve: dict[str, list[float]]
    rows: int
    positives: int
    environment: dict[str, Any]
    outputs: dict[str, list[Any]] | None = None  # prediction and probability per row, when asked for


@dataclass(frozen=True)
class BenchmarkReport:
    """Both evaluations, the decision, and where the report was written."""

    benchmark_id: str
    model: str
    run_date: str
    holdout: str
    champion: Evaluation
    challenger: Evaluation
    decision: Decision
    mlflow_run_id: str
    trigger: str | None = None  # why monitoring asked for the retrain this benchmark judges

    @property
    def verdict(self) -> str:
        return "promoted" if self.decision.promote else "kept"

    def side_by_side(self) -> list[tuple[str, float | None, float | None]]:
        names = list(dict.fromkeys([*self.champion.metrics, *self.challenger.metrics]))
        return [(n, self.champion.metrics.get(n), self.challenger.metrics.get(n)) for n in names]


def benchmarks_table(settings: Settings) -> str:
    """URI of the Delta table of benchmark reports."""

    return tables.table_uri(settings, "_platform", "benchmarks")


def _env_python(info: ModelVersionInfo, settings: Settings) -> str:
    """The Python of the model's environment (unpacked locally once), or this interpreter without one."""
    if not info.env_id:
        log.info("%s records no environment; evaluating it with %s in a subprocess", info.id, sys.executable)
        return sys.executable

    artifact = envs.resolve(info.env_id, settings)
    envs.verify_archive(artifact, settings)  # signature and archive, even when an unpacked copy is reused
    folder = envs.unpack(artifact, settings)
    return str(Path(folder) / "bin" / "python")


def evaluate(
    info: ModelVersionInfo,
    holdout: Any,
    label: str,
    metrics: list[str],
    settings: Settings,
    workdir: Path,
    outputs: bool = False,
) -> Evaluation:
    """Evaluate model version ``info`` on the pandas frame ``holdout`` in the model's environment.

    ``outputs``: also return the model's prediction and probability per holdout row.

    Raises:
        LifecycleError: the holdout lacks a column of the model's signature or the label,
            or the evaluation process fails (its last lines of stderr are in the message).
    """

    model_dir = model_registry.download(info, workdir / f"model-{info.version}", settings)
    model_registry.verify_dir(info, model_dir, settings)
    features = [c["name"] for c in model_registry.input_schema(model_dir)]
    missing = [c for c in [*features, label] if c not in holdout.columns]
    if missing:
        raise LifecycleError(
            f"the holdout lacks column(s) {', '.join(missing)} needed by {info.id}",
            f"holdout columns: {', '.join(map(str, holdout.columns))}",
        )
    data = workdir / f"holdout-{info.version}.arrows"
    data.write_bytes(encode_frame(holdout[[*features, label]].reset_index(drop=True)))
    output = workdir / f"evaluation-{info.version}.json"
    request = {
        "model": str(model_dir / model_registry.MODEL_PICKLE),
        "data": str(data),
        "features": features,
        "label": label,
        "metrics": metrics,
        "output": str(output),
        "outputs": outputs,
    }
    request_file = workdir / f"request-{info.version}.json"
    request_file.write_text(json.dumps(request))
    python = _env_python(info, settings)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(platform_zip(Path(settings.home) / "dist"))
    env["PYTHONNOUSERSITE"] = "1"
    done = subprocess.run(
        [python, "-m", "mlplatform.lifecycle.evaluation", str(request_file)],
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-6:])
        raise LifecycleError(
            f"evaluating {info.id} on the holdout failed in {python} (exit {done.returncode}): {tail}",
            "check that the model's environment can load it: mlp -v ...",
        )
    result = json.loads(output.read_text())
    return Evaluation(
        info.id,
        result["metrics"],
        result["roc_curve"],
        int(result["rows"]),
        int(result["positives"]),
        result["environment"],
        result.get("outputs"),
    )


def _roc_plot(report: BenchmarkReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=100)
    for role, ev, style in (("champion", report.champion, "-"), ("challenger", report.challenger, "-")):
        auc = ev.metrics.get("roc_auc", float("nan"))
        ax.plot(ev.roc_curve["fpr"], ev.roc_curve["tpr"], style, label=f"{role} {ev.model_id} (ROC-AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        xlim=(0, 1),
        ylim=(0, 1.01),
        title=f"{report.model}: champion vs challenger, {report.champion.rows} holdout rows",
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _markdown(report: BenchmarkReport) -> str:
    lines = [
        f"# Benchmark {report.benchmark_id}",
        "",
        f"Holdout `{report.holdout}`: {report.champion.rows} rows, {report.champion.positives} positives. "
        f"Run date {report.run_date}.",
        "",
        *([f"Why this retrain: {report.trigger}.", ""] if report.trigger else []),
        f"| metric | champion {report.champion.model_id} | challenger {report.challenger.model_id} |",
        "|---|---|---|",
    ]
    lines += [
        f"| {n} | {a:.4f} | {b:.4f} |" if a is not None and b is not None else f"| {n} | {a} | {b} |"
        for n, a, b in report.side_by_side()
    ]
    lines += [
        "",
        f"**Decision: {report.verdict}** (margin {report.decision.margin:g} on {report.decision.primary})",
        "",
    ]
    lines += [f"- {'PASS' if c.passed else 'FAIL'} {c.name}: {c.detail}" for c in report.decision.checks]
    return "\n".join(lines) + "\n"


def _as_dict(report: BenchmarkReport) -> dict[str, Any]:
    return {
        "benchmark_id": report.benchmark_id,
        "model": report.model,
        "run_date": report.run_date,
        "holdout": report.holdout,
        "decision": report.verdict,
        "trigger": report.trigger,
        "primary_metric": report.decision.primary,
        "margin": report.decision.margin,
        "checks": [
            {"name": c.name, "passed": c.passed, "detail": c.detail, "actual": c.actual, "required": c.required}
            for c in report.decision.checks
        ],
        "champion": {
            "model": report.champion.model_id,
            "metrics": report.champion.metrics,
            "environment": report.champion.environment,
        },
        "challenger": {
            "model": report.challenger.model_id,
            "metrics": report.challenger.metrics,
            "environment": report.challenger.environment,
        },
        "rows": report.champion.rows,
        "positives": report.champion.positives,
    }


def _log_report(
    client: Any,
    run_id: str,
    report: BenchmarkReport,
    champion: ModelVersionInfo,
    challenger: ModelVersionInfo,
    folder: Path,
) -> None:
    from mlflow.entities import Metric, Param, RunTag

    now = int(datetime.now(timezone.utc).timestamp() * 1000)
    metrics = [
        Metric(f"{role}_{k}", float(v), now, 0)
        for role, ev in (("champion", report.champion), ("challenger", report.challenger))
        for k, v in ev.metrics.items()
        if v == v
    ]
    gain = report.decision.checks[-1].actual
    if gain is not None and gain == gain:
        metrics.append(Metric(f"gain_{report.decision.primary}", float(gain), now, 0))
    params = {
        "champion_version": champion.version, "challenger_version": challenger.version, "holdout": report.holdout,
        "holdout_rows": report.champion.rows, "primary_metric": report.decision.primary,
        "margin": report.decision.margin, "run_date": report.run_date,
    }  # fmt: skip
    tags = {"mlp.decision": report.verdict, "mlp.reasons": json.dumps(report.decision.reasons)[:5000]}
    if report.trigger:
        tags["mlp.trigger"] = report.trigger[:5000]
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param(k, str(v)) for k, v in params.items()],
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    folder.mkdir()
    _roc_plot(report, folder / "roc.png")
    (folder / "report.json").write_text(json.dumps(_as_dict(report), indent=1, default=str))
    (folder / "report.md").write_text(_markdown(report))
    client.log_artifacts(run_id, str(folder), "benchmark")


def _write_row(
    report: BenchmarkReport, settings: Settings, champion: ModelVersionInfo, challenger: ModelVersionInfo, job_run: str
) -> int:
    import pandas as pd

    primary = report.decision.primary
    row = {
        "benchmark_id": report.benchmark_id,
        "model": report.model,
        "run_date": report.run_date,
        "at": pd.Timestamp.now(tz="UTC"),
        "champion_version": champion.version,
        "challenger_version": challenger.version,
        "holdout": report.holdout,
        "holdout_rows": report.champion.rows,
        "primary_metric": primary,
        "higher_is_better": report.decision.higher_is_better,
        "margin": float(report.decision.margin),
        "champion_primary": float(report.champion.metrics.get(primary, float("nan"))),
        "challenger_primary": float(report.challenger.metrics.get(primary, float("nan"))),
        "decision": report.verdict,
        "reasons": json.dumps(([report.trigger] if report.trigger else []) + report.decision.reasons),
        "metrics": json.dumps(
            {"champion": report.champion.metrics, "challenger": report.challenger.metrics}, sort_keys=True
        ),
        "checks": json.dumps(_as_dict(report)["checks"], default=str),
        "mlflow_run_id": report.mlflow_run_id,
        "job_run": job_run,
    }
    frame = pd.DataFrame([row], columns=BENCHMARK_COLUMNS)
    return tables.write_pandas(
        frame,
        benchmarks_table(settings),
        mode="append",
        metadata=tables.commit_metadata(job="benchmark", run_id=job_run),
    )


def run_benchmark(
    champion: ModelVersionInfo,
    challenger: ModelVersionInfo,
    holdout: Any,
    holdout_id: str,
    label: str,
    settings: Settings,
    margin: float,
    run_date: str,
    job_run: str,
    trigger: str | None = None,
) -> BenchmarkReport:
    """Evaluate both versions on ``holdout``, apply the gates, write the report everywhere.

    The gates are the challenger's recorded definitions (``mlp.metrics``): its
    thresholds and primary metric, with ``margin``. ``trigger``: why monitoring asked for
    the retrain (kept in the report, the benchmarks table's reasons and the lineage).
    """
    from mlflow import MlflowClient

    if champion.name != challenger.name:
        raise LifecycleError(
            f"cannot benchmark {champion.id} against {challenger.id}",
            "champion and challenger must be versions of one model",
        )
    if len(holdout) == 0:
        raise LifecycleError(
            f"the holdout {holdout_id} for '{champion.name}' has no rows",
            "widen the holdout window (holdout_days in conf/lifecycle.yaml)",
        )
    gates = Gates.from_definitions(challenger.json_tag(TAG_METRICS) or champion.json_tag(TAG_METRICS), margin)
    names = list(dict.fromkeys([*gates.metrics, *STANDARD_METRICS]))
    configure(settings)
    client = MlflowClient()
    run_id = client.create_run(
        experiment_id(champion.name, settings),
        run_name=f"benchmark-{run_date}",
        tags=run_tags(
            {
                "mlp.benchmark": "true",
                "mlp.model": champion.name,
                "mlp.champion": champion.id,
                "mlp.challenger": challenger.id,
            }
        ),
    ).info.run_id
    benchmark_id = f"benchmark:{champion.name}@{run_id[:12]}"
    try:
        client.set_tag(run_id, "mlp.benchmark_id", benchmark_id)
        with tempfile.TemporaryDirectory(prefix="mlp-benchmark-") as tmp:
            work = Path(tmp)
            old = evaluate(champion, holdout, label, names, settings, work)
            new = evaluate(challenger, holdout, label, names, settings, work)
            report = BenchmarkReport(
                benchmark_id,
                champion.name,
                run_date,
                holdout_id,
                old,
                new,
                decide(old.metrics, new.metrics, gates),
                run_id,
                trigger,
            )
            _log_report(client, run_id, report, champion, challenger, work / "benchmark")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    _write_row(report, settings, champion, challenger, job_run)
    edges = [Edge(champion.id, "champion", report.benchmark_id), Edge(challenger.id, "challenger", report.benchmark_id)]
    if ":" in holdout_id:
        edges.append(Edge(holdout_id, "holdout", report.benchmark_id))
    record(
        settings,
        edges,
        action="benchmark",
        job_run=job_run,
        details={
            "model": champion.name,
            "decision": report.verdict,
            "primary": gates.primary,
            "mlflow_run": run_id,
            **({"trigger": trigger} if trigger else {}),
        },
    )
    log.info("benchmark %s: %s", report.benchmark_id, report.decision.summary())
    return report


def history(settings: Settings, model: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Benchmark rows, newest first (of one model when given)."""

    uri = benchmarks_table(settings)
    if not tables.exists(uri):
        return []
    frame = tables.to_pandas(uri)
    if model:
        frame = frame[frame["model"] == model]
    frame = frame.sort_values("at", ascending=False)
    rows = frame.head(limit) if limit else frame
    return rows.to_dict("records")
