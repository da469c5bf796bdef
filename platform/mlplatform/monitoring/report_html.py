"""One self-contained HTML page of a model's monitoring: summary, distributions, PSI and performance over run dates.

Pure rendering (pandas and matplotlib, no Delta): the caller reads the data
(:func:`mlplatform.monitoring.report.monitor_view`, the reference profile,
:func:`mlplatform.monitoring.performance.read_performance`). Every figure is a matplotlib PNG
embedded as a ``data:`` URI and the style sheet is inline, so the page needs no network.

- a summary table of every feature and output of the run, coloured by status;
- per flagged (``warn`` / ``alert``) column, its reference shares per bin (from the profile)
  beside the current ones (the drift row's ``counts`` on the same bins); none for ``ok`` ones;
- PSI per column over every run date of the model, with the PSI bands;
- realized performance per metric over run dates with its threshold, or "no labels yet".
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from mlplatform.monitoring.bands import OK, Band
from mlplatform.monitoring.frames import CATEGORICAL
from mlplatform.monitoring.profile import ColumnProfile
from mlplatform.monitoring.stats import shares

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from mlplatform.monitoring.report import MonitorView

__all__ = ["SUMMARY_COLUMNS", "render_html", "bin_labels"]

SUMMARY_COLUMNS = [
    "feature",
    "role",
    "kind",
    "status",
    "psi",
    "js",
    "test",
    "p_value",
    "null_rate",
    "null_rate_change",
    "out_of_range_share",
    "unseen_share",
    "reasons",
]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;font-size:.9em}th,td{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.status{font-weight:600;padding:0 .4em;border-radius:.3em}
.ok{background:#e6f4ea}.warn{background:#fff4d6}.alert{background:#fde2e1}
figure{margin:1em 0}figcaption{font-size:.85em;color:#555}img{max-width:100%}
"""

_COLOURS = {"reference": "#7f8c8d", "current": "#2e86c1"}


def bin_labels(column: ColumnProfile) -> list[str]:
    """A label per bin of ``column``: its categories and ``other``, or its right-closed numeric intervals."""
    if column.kind == CATEGORICAL:
        return [*column.categories, "other"]
    edges = column.edges
    if len(edges) == 2:
        return ["all values"]
    labels = []
    for low, high in zip(edges[:-1], edges[1:]):
        if math.isinf(low):
            labels.append(f"≤ {high:.4g}")
        elif math.isinf(high):
            labels.append(f"> {low:.4g}")
        else:
            labels.append(f"({low:.4g}, {high:.4g}]")
    return labels


def _png(figure: "Figure") -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> "Figure":
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=96, layout="constrained")


def _img(figure: "Figure", kind: str, feature: str | None, caption: str) -> str:
    data = f' data-feature="{html.escape(feature)}"' if feature is not None else ""
    return (
        f'<figure class="{kind}"{data}><img alt="{html.escape(caption)}" src="{_png(figure)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _date_axis(figure: "Figure", axes: Any, dates: "pd.DatetimeIndex") -> None:
    """Ticks on the run dates themselves (at most 12 of them), written YYYY-MM-DD."""
    from matplotlib.dates import DateFormatter

    unique = dates.unique().sort_values()
    step = max(1, math.ceil(len(unique) / 12))
    axes.set_xticks(unique[::step])
    axes.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
    figure.autofmt_xdate()


def _rate(value: Any) -> str:
    return "-" if value is None or value != value else f"{value:.1%}"


def _distribution(row: Mapping[str, Any], column: ColumnProfile) -> str:
    import numpy as np

    current = [int(c) for c in json.loads(row["counts"] or "[]")]
    if len(current) != len(column.counts):
        return (
            f'<p class="missing">{html.escape(row["feature"])}: the run counted {len(current)} bins and the '
            f"reference profile has {len(column.counts)}; no plot</p>"
        )
    labels = bin_labels(column)
    x = np.arange(len(labels))
    figure = _figure(7.5, 3.2)
    axes = figure.subplots()
    axes.bar(
        x - 0.2,
        shares(column.counts),
        0.4,
        color=_COLOURS["reference"],
        label=f"reference ({column.non_null} values, {_rate(column.null_rate)} null)",
    )
    axes.bar(
        x + 0.2,
        shares(current),
        0.4,
        color=_COLOURS["current"],
        label=f"current ({sum(current)} values, {_rate(row['null_rate'])} null)",
    )
    axes.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    axes.set_ylabel("share of non-null values")
    axes.set_title(f"{row['feature']} ({row['kind']}): PSI {row['psi']:.3f}, {row['status']}", fontsize=10)
    axes.legend(fontsize=8)
    reasons = "; ".join(json.loads(row["reasons"] or "[]")) or row["status"]
    return _img(figure, "distribution", str(row["feature"]), f"{row['feature']}: {reasons}")


def _psi_over_time(history: "pd.DataFrame", band: Band) -> str:
    import pandas as pd

    if history.empty:
        return "<p>no run dates measured</p>"
    table = history.pivot_table(index="run_date", columns="feature", values="psi", aggfunc="last")
    table.index = pd.to_datetime(table.index)
    figure = _figure(9, 4)
    axes = figure.subplots()
    for feature in table.columns:
        axes.plot(table.index, table[feature], marker="o", markersize=3, linewidth=1, label=str(feature))
    axes.axhline(band.warn, color="#e0a800", linestyle="--", linewidth=1, label=f"warn {band.warn:g}")
    axes.axhline(band.alert, color="#c0392b", linestyle="--", linewidth=1, label=f"alert {band.alert:g}")
    axes.set_ylabel("PSI against the reference")
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    _date_axis(figure, axes, table.index)
    dates = sorted(set(history["run_date"]))
    caption = f"PSI per column on {len(dates)} run date(s), {dates[0]} to {dates[-1]}"
    return _img(figure, "drift-over-time", None, caption)


def _bar(threshold: Any) -> float | None:
    """The number of a threshold: a float, or the last word of a recorded bar such as ``"roc_auc >= 0.7"``."""
    try:
        value = float(threshold if isinstance(threshold, (int, float)) else str(threshold).split()[-1])
    except (IndexError, ValueError):
        return None
    return None if math.isnan(value) else value


def _performance(performance: "pd.DataFrame | None") -> str:
    import pandas as pd

    if performance is None or performance.empty:
        return "<p>no labels yet: realized performance appears once labels are joined to past scores</p>"
    metrics = list(dict.fromkeys(performance["metric"]))
    figure = _figure(8, 2.4 * len(metrics))
    for axes, metric in zip(figure.subplots(len(metrics), 1, squeeze=False)[:, 0], metrics):
        rows = performance[performance["metric"] == metric].sort_values("run_date", kind="stable")
        when = pd.to_datetime(rows["run_date"].astype(str))
        for version, part in rows.groupby("version", sort=True):
            axes.plot(when[part.index], part["value"], marker="o", label=f"{metric}, version {version}")
        thresholds = rows["threshold"].dropna()
        bar = _bar(thresholds.iloc[-1]) if not thresholds.empty else None
        if bar is not None:
            label = f"threshold {thresholds.iloc[-1]}" if isinstance(thresholds.iloc[-1], str) else "threshold"
            axes.axhline(bar, color="#c0392b", linestyle="--", linewidth=1, label=label)
        axes.set_ylabel(metric)
        axes.legend(fontsize=8)
        _date_axis(figure, axes, pd.DatetimeIndex(when))
    columns = ("run_date", "version", "metric", "value", "threshold", "status", "labelled_rows", "rows")
    table = _table(performance, [c for c in columns if c in performance.columns])
    return _img(figure, "performance", None, "realized performance per run date") + table


def _cell(value: Any) -> tuple[str, bool]:
    if value is None:
        return "-", False
    if isinstance(value, float):
        return f"{value:.4f}", True
    if isinstance(value, int):
        return str(value), True
    return str(value), False


def _table(frame: "pd.DataFrame", columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    shown = frame[list(columns)]
    body = []
    for record in shown.astype(object).where(shown.notna(), None).to_dict("records"):
        cells = []
        for name in columns:
            text, numeric = _cell(record[name])
            if name == "status":
                cells.append(f'<td><span class="status {html.escape(text)}">{html.escape(text)}</span></td>')
            else:
                cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{html.escape(text)}</td>")
        body.append(f'<tr class="{html.escape(str(record.get("status") or ""))}">{"".join(cells)}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(
    view: "MonitorView",
    profile_columns: Mapping[str, ColumnProfile],
    performance: "pd.DataFrame | None",
    psi_band: Band,
) -> str:
    """The page of ``view`` (see the module doc).

    Args:
        view: the run and its history.
        profile_columns: the reference profile's columns by name (features and outputs).
        performance: realized performance rows of the model (empty or None: no labels yet).
        psi_band: the PSI band drawn on the PSI-over-time plot.
    """
    rows = view.rows.assign(reasons=[", ".join(json.loads(r or "[]")) for r in view.rows["reasons"]])
    flagged = view.rows[view.rows["status"] != OK]
    plots = [
        _distribution(row, profile_columns[row["feature"]])
        if row["feature"] in profile_columns
        else f'<p class="missing">{html.escape(row["feature"])}: not in the reference profile; no plot</p>'
        for row in flagged.to_dict("records")
    ]
    first = view.rows.iloc[0]
    previous = first.get("previous_rows")
    previous_text = "" if previous is None or previous != previous else f" (previous run: {int(previous)})"
    others = f"; also measured that day: version(s) {', '.join(view.other_versions)}" if view.other_versions else ""
    title = f"{view.subject} on {view.run_date}"
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}: monitoring</title><style>{_STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            f'<p class="headline">status <span class="status {view.status}">{view.status}</span> · '
            f"{view.scored_rows} rows scored{previous_text} · reference {int(first['reference_rows'])} rows · "
            f"{html.escape(view.source)} · measured {html.escape(str(first['computed_at']))}"
            f"{html.escape(others)}</p>",
            '<section id="summary"><h2>Features and outputs</h2>',
            _table(rows, SUMMARY_COLUMNS),
            "</section>",
            '<section id="distributions"><h2>Reference vs current: flagged columns</h2>',
            *(plots or ["<p>nothing flagged: every column is ok</p>"]),
            "</section>",
            '<section id="drift-over-time"><h2>PSI over run dates</h2>',
            _psi_over_time(view.history, psi_band),
            "</section>",
            '<section id="performance"><h2>Realized performance</h2>',
            _performance(performance),
            "</section>",
            f"<footer><p>generated by mlp monitor at {generated}</p></footer>",
            "</body></html>",
        ]
    )
