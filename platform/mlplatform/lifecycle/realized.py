"""Realized performance: past scores joined to the labels that have landed since, per run date.

A model's labels come from its training-set spec (``labels:`` table, keys, label time and
label column): the same rows that train it judge its production scores. A label of entity
``k`` at label time ``L`` judges the latest score of ``k`` whose as-of time ``T`` (the
scoring run's ``as_of`` column, else the end of its run date) satisfies
``L - label_window <= T <= L``: the prediction the model made from what was known just
before the label's snapshot — the moment training rows are taken at. ``label_window``
(``conf/lifecycle.yaml``, default ``1d``) bounds how stale that prediction may be; scores no
label judges stay unlabelled.

Per (model version, run date) the metrics are the version's own definitions (its
``mlp.metrics`` tag: primary metric and thresholds), computed by the training code's
metric functions on the stored prediction and probability, so training, benchmarks and
production measure alike. A metric on the wrong side of its recorded threshold is an
``alert``. Every run is recomputed from the tables each time (late labels change the
figures): :func:`measure` replaces the model's rows of the performance table.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from mlplatform import features, tables
from mlplatform.config import Settings
from mlplatform.errors import MonitoringError, ScoringError
from mlplatform.lifecycle.gates import Gates
from mlplatform.monitoring.performance import ALERT, OK, UNDEFINED, RealizedMetric, write_performance
from mlplatform.scoring import results
from mlplatform.tracking import model_registry
from mlplatform.tracking.model_registry import TAG_METRICS
from mlplatform.training.executor import METRICS, metric_values
from mlplatform.training.spec import load_spec

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LABEL", "LABEL_TIME", "joined_scores", "realized_metrics", "measure"]

log = logging.getLogger(__name__)

LABEL = "__label__"
LABEL_TIME = "__label_time__"
_MIN_ROWS = 2


def _utc_micros(column: "pd.Series") -> "pd.Series":
    import pandas as pd

    stamps = pd.to_datetime(column, utc=True)
    return stamps.astype("datetime64[us, UTC]")


def joined_scores(
    scores: "pd.DataFrame", labels: "pd.DataFrame", keys: Sequence[str], window: timedelta
) -> "pd.DataFrame":
    """The score rows a label judges, with ``__label__`` and ``__label_time__``: one row per label at most.

    Args:
        scores: keys, ``as_of`` (or only ``run_date``), ``model_version``, ``prediction``, ``probability``.
        labels: keys, ``__label_time__`` and ``__label__``.
    """
    import pandas as pd

    scores = scores.copy()
    if "as_of" in scores:
        as_of = _utc_micros(scores["as_of"])
    else:
        as_of = pd.Series(pd.NaT, index=scores.index, dtype="datetime64[us, UTC]")
    ends = _utc_micros(
        pd.to_datetime(scores["run_date"].astype(str)) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    )
    scores["__as_of__"] = as_of.fillna(ends)
    labels = labels.dropna(subset=[*keys, LABEL_TIME, LABEL]).copy()
    labels[LABEL_TIME] = _utc_micros(labels[LABEL_TIME])
    joined = pd.merge_asof(
        labels.sort_values(LABEL_TIME),
        scores.sort_values("__as_of__"),
        left_on=LABEL_TIME,
        right_on="__as_of__",
        by=list(keys),
        direction="backward",
        tolerance=pd.Timedelta(window),
    )
    return joined.dropna(subset=["__as_of__"]).drop(columns="__as_of__").reset_index(drop=True)


def _binary_outputs(rows: "pd.DataFrame") -> tuple[Any, Any, Any]:
    """(score, probability matrix, classes) of binary scores; probability may be absent."""
    import numpy as np

    classes = np.unique(np.concatenate([rows[LABEL].to_numpy(), rows["prediction"].to_numpy()]))
    if "probability" not in rows or rows["probability"].dtype == object:
        return None, None, classes
    score = rows["probability"].to_numpy(dtype="float64")
    return score, np.column_stack([1.0 - score, score]), classes


def realized_metrics(
    rows: "pd.DataFrame", names: Sequence[str], gates: Gates | None, context: dict[str, Any]
) -> list[RealizedMetric]:
    """The metrics ``names`` on the joined rows of one (version, run date); statuses from ``gates``' thresholds.

    ``context`` holds model, version, run_date, rows (scores of the run date) and computed_at.
    """
    labelled = len(rows)
    score, proba, classes = _binary_outputs(rows) if labelled else (None, None, [])
    values: dict[str, float] = {}
    if labelled >= _MIN_ROWS and len(classes) == 2:
        # metrics on the probability stay undefined when the scores hold none (METRICS: needs a score)
        measurable = [n for n in names if score is not None or not METRICS[n][1]]
        values = metric_values(measurable, rows[LABEL], rows["prediction"], score, proba, classes)
    bars = {t.metric: t for t in (gates.thresholds if gates else ())}
    positives = int((rows[LABEL] == classes[1]).sum()) if len(classes) == 2 else 0
    out = []
    for name in names:
        value = values.get(name, math.nan)
        bar = bars.get(name)
        status = UNDEFINED if value != value else (ALERT if bar is not None and not bar.passes(value) else OK)
        out.append(
            RealizedMetric(
                metric=name,
                value=value,
                threshold=str(bar) if bar else None,
                status=status,
                labelled_rows=labelled,
                positives=positives,
                **context,
            )
        )
    return out


def _labels(model: str, settings: Settings) -> tuple[list[str], "pd.DataFrame"]:
    """(keys, labels frame with ``__label_time__`` and ``__label__``): the model's label, from its training-set spec."""
    spec = load_spec(model)
    source = features.load_trainset_spec(spec.training_set.name).labels
    frame = tables.to_pandas(
        tables.resolve_name(settings, source.table),
        columns=[*source.keys, source.event_timestamp, spec.label],
        version=source.version,
    )
    frame = frame.rename(columns={source.event_timestamp: LABEL_TIME, spec.label: LABEL})
    return list(source.keys), frame


def _gates(model: str, version: int, settings: Settings) -> Gates | None:
    info = model_registry.resolve(f"{model}@{version}", settings)
    definitions = info.json_tag(TAG_METRICS)
    return Gates.from_definitions(definitions, margin=0.0) if definitions else None


def measure(model: str, settings: Settings, window: timedelta, job_run: str | None = None) -> list[RealizedMetric]:
    """Realized performance of every scored run date of ``model`` that labels judge; stored, and returned.

    Raises:
        MonitoringError: the scores lack the label keys, or the model has no scores yet.
    """
    try:
        scores = results.read(model, "all", settings)
    except ScoringError as exc:
        raise MonitoringError(exc.message, exc.hint) from exc
    keys, labels = _labels(model, settings)
    missing = [k for k in keys if k not in scores]
    if missing:
        raise MonitoringError(
            f"the scores of model '{model}' lack the label key(s) {', '.join(missing)} of its training set",
            "score with the keys kept (mlp score --keys ...) so labels can be joined to the scores",
        )
    joined = joined_scores(scores, labels, keys, window)
    computed_at = datetime.now(timezone.utc).isoformat()
    scored = scores.groupby(["model_version", "run_date"]).size()
    out: list[RealizedMetric] = []
    gates_of: dict[int, Gates | None] = {}
    for (version, run_date), count in scored.items():
        version = int(version)
        if version not in gates_of:
            gates_of[version] = _gates(model, version, settings)
        gates = gates_of[version]
        rows = joined[(joined["model_version"] == version) & (joined["run_date"] == run_date)]
        if rows.empty:
            continue
        names = list(gates.metrics) if gates else ["roc_auc"]
        context = {
            "model": model,
            "version": str(version),
            "run_date": str(run_date),
            "rows": int(count),
            "computed_at": computed_at,
        }
        out.extend(realized_metrics(rows, names, gates, context))
    write_performance(settings, model, out, job_run=job_run)
    alerts = [m for m in out if m.status == ALERT]
    log.info(
        "realized performance of %s: %d labelled run date(s), %d metric(s) under their threshold%s",
        model,
        len({(m.version, m.run_date) for m in out}),
        len(alerts),
        ": " + ", ".join(f"{m.run_date} {m.metric} {m.value:.4f} ({m.threshold})" for m in alerts[:5])
        if alerts
        else "",
    )
    return out
