"""``mlp monitor``: the stored drift of a run as a table, JSON and an offline HTML page; bad input in one line.

One home per module, written with ``monitoring.store`` from pandas frames (no Spark):
model ``churn`` version 1 measured on 2024-06-01 (calm; online: half a standard deviation
shifted) and 2024-06-02 (one numeric feature shifted by one standard deviation, one category
mix changed), version 2 measured calm on 2024-06-02 after it; ``fresh`` profiled and never
scored; ``batch_only`` scored, never served.
"""

from __future__ import annotations

import base64
import json
import math
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import REPO, run_mlp

from mlplatform.cli.main import cli
from mlplatform.monitoring import build_profile, compare
from mlplatform.monitoring.performance import RealizedMetric, write_performance
from mlplatform.monitoring.store import read_drift, write_drift, write_profile

ROWS = 12_000  # above the small-sample limit (10,000), so the PSI bands count on their own
CALM, SHIFTED = "2024-06-01", "2024-06-02"


def _frame(seed: int, shift: float = 0.0, mix: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tenure": rng.normal(24 + shift * 12, 12, ROWS),
            "spend": rng.gamma(2.0, 10.0, ROWS),
            "plan": rng.choice(["basic", "pro", "team"], p=[0.2, 0.3, 0.5] if mix else [0.6, 0.3, 0.1], size=ROWS),
        }
    )


def _outputs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    probability = np.random.default_rng(seed).beta(2, 5, ROWS)
    return probability >= 0.5, probability


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from mlplatform.config import load_settings

    home = tmp_path_factory.mktemp("monitor") / ".mlp"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_PROJECT", str(REPO))
        mp.setenv("MLP_HOME", str(home))
        settings = load_settings()
        first = build_profile(_frame(0), *_outputs(0), model="churn", version=1)
        second = build_profile(_frame(1), *_outputs(1), model="churn", version=2)
        write_profile(settings, first)
        write_profile(settings, second)
        write_drift(settings, compare(first, _frame(2), *_outputs(2)), CALM)
        write_drift(settings, compare(first, _frame(3, shift=1.0, mix=True), *_outputs(3), previous_rows=ROWS), SHIFTED)
        write_drift(settings, compare(second, _frame(4), *_outputs(4), previous_rows=ROWS), SHIFTED)
        write_drift(settings, compare(first, _frame(6, shift=0.5), *_outputs(6)), CALM, source="online")
        write_profile(settings, build_profile(_frame(5), model="fresh", version=1))  # profiled, never scored
        batch_only = build_profile(_frame(7), model="batch_only", version=1)
        write_profile(settings, batch_only)
        write_drift(settings, compare(batch_only, _frame(8)), CALM)
    yield home


@pytest.fixture
def settings(home: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from mlplatform.config import load_settings

    monkeypatch.setenv("MLP_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home}/mlflow.db")
    return load_settings()


def _monitor(*args: str) -> Any:
    return CliRunner().invoke(cli, ["monitor", *args])


def _same(got: Any, expected: Any) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return got is None
    return got == expected


def test_json_is_every_stored_measure_of_the_run(settings: Any) -> None:
    shown = _monitor("churn", "--run-date", SHIFTED, "--version", "1", "--json")
    assert shown.exit_code == 0, shown.output
    got = {r["feature"]: r for r in json.loads(shown.stdout)}
    stored = read_drift(settings, "churn", run_date=SHIFTED, version=1)
    assert set(got) == {"tenure", "spend", "plan", "prediction", "probability"} == set(stored["feature"])
    for row in stored.to_dict("records"):
        record = got[row["feature"]]
        for name in ("psi", "js", "null_rate", "null_rate_change", "out_of_range_share", "unseen_share", "status"):
            assert _same(record[name], row[name]), (row["feature"], name)
        assert record["counts"] == json.loads(row["counts"]) and record["reasons"] == json.loads(row["reasons"])
        assert record["version"] == "1" and record["run_date"] == SHIFTED and record["previous_rows"] == ROWS
    assert {f for f, r in got.items() if r["status"] == "alert"} == {"tenure", "plan"}
    assert {r["status"] for f, r in got.items() if f not in ("tenure", "plan")} == {"ok"}
    latest = json.loads(_monitor("churn", "--json").stdout)  # the latest run date, the version measured last
    assert {(r["run_date"], r["version"]) for r in latest} == {(SHIFTED, "2")}
    calm = json.loads(_monitor("churn", "--run-date", CALM, "--json").stdout)
    assert {(r["version"], r["status"], r["previous_rows"], r["source"]) for r in calm} == {("1", "ok", None, "batch")}
    online = {r["feature"]: r for r in json.loads(_monitor("churn", "--source", "online", "--json").stdout)}
    stored = read_drift(settings, "churn", source="online").set_index("feature")
    assert {(r["run_date"], r["source"]) for r in online.values()} == {(CALM, "online")}
    assert {f: r["psi"] for f, r in online.items()} == stored["psi"].to_dict()
    assert online["tenure"]["status"] != "ok"


def test_the_table_shows_one_line_per_column_and_the_other_versions(settings: Any) -> None:
    shown = _monitor("churn")
    assert shown.exit_code == 0, shown.output
    head, columns, *lines = shown.stdout.strip().splitlines()
    also = "also measured that day: version(s) 1 (--version N)"
    assert head == f"model:churn@2 on {SHIFTED}: ok ({ROWS} rows scored); {also}"
    assert columns.split()[:5] == ["feature", "role", "status", "psi", "js"]
    assert [line.split()[0] for line in lines] == ["plan", "spend", "tenure", "prediction", "probability"]
    one = _monitor("show", "churn", "--version", "1").stdout.splitlines()
    assert one[0] == f"model:churn@1 on {SHIFTED}: alert ({ROWS} rows scored)"
    assert next(line for line in one if line.startswith("tenure")).split()[2] == "alert"


class _Page(HTMLParser):
    """Figures (class, data-feature, image source), every src/href, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[dict[str, str]] = []
        self.links: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        self.links += [values[k] for k in ("src", "href") if k in values]
        if tag == "figure":
            self.figures.append({"class": values.get("class", ""), "feature": values.get("data-feature", "")})
        if tag == "img" and self.figures:
            self.figures[-1]["src"] = values["src"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text())
    page.close()
    return page


def test_the_html_page_is_offline_and_plots_each_flagged_column(settings: Any, tmp_path: Path) -> None:
    out = tmp_path / "pages" / "churn.html"
    shown = _monitor("churn", "--version", "1", "--html", "-o", str(out))
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.strip() == f"model:churn@1 on {SHIFTED}: alert, 2 flagged column(s) -> {out}"
    page = _page(out)
    stored = read_drift(settings, "churn", run_date=SHIFTED, version=1)
    flagged = set(stored.loc[stored["status"] != "ok", "feature"])
    plots = [f for f in page.figures if f["class"] == "distribution"]
    assert sorted(f["feature"] for f in plots) == sorted(flagged) == ["plan", "tenure"]
    assert [f["class"] for f in page.figures].count("drift-over-time") == 1
    assert all(base64.b64decode(f["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n" for f in page.figures)
    assert page.links and all(link.startswith("data:image/png;base64,") for link in page.links)
    assert "script" not in page.tags and "link" not in page.tags
    text = " ".join(page.text)
    assert "no labels yet" in text and all(f in text for f in stored["feature"])

    write_performance(
        settings,
        "churn",
        [
            RealizedMetric("churn", "1", day, "roc_auc", value, "roc_auc >= 0.7", status, 500, 480, 60, "2024-06-03")
            for day, value, status in (("2024-05-01", 0.81, "ok"), ("2024-05-02", 0.64, "alert"))
        ],
    )
    calm = tmp_path / "calm.html"
    assert _monitor("churn", "--run-date", CALM, "--html", "-o", str(calm)).exit_code == 0
    page = _page(calm)
    assert [f["class"] for f in page.figures] == ["drift-over-time", "performance"]
    text = " ".join(page.text)
    assert "nothing flagged" in text and "no labels yet" not in text and "0.6400" in text


def test_bad_input_is_refused_in_one_line_naming_the_model(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    from mlplatform.cli import monitor

    uri = settings.mlflow_tracking_uri
    MlflowClient(tracking_uri=uri, registry_uri=uri).create_registered_model("legacy")  # registered, never profiled
    stale = run_mlp(["monitor", "churn", "--run-date", "2024-07-01"], env={"MLP_HOME": settings.home})
    assert stale.returncode == 1 and stale.stderr.count("\n") == 1, stale.stderr
    assert stale.stderr.startswith("Error: no batch drift measured for model churn on 2024-07-01")
    cases = [
        (["nosuch"], 3, "no registered model named 'nosuch' — registered models: legacy"),
        (["legacy"], 3, "model legacy has no reference profile and no drift measured — train and register it"),
        (["fresh"], 1, "no drift measured for model fresh yet — run mlp score fresh@champion --run-date YYYY-MM-DD"),
        (
            ["churn", "--run-date", "2024-07-01"],
            1,
            f"no batch drift measured for model churn on 2024-07-01 (measured: {CALM}, {SHIFTED}) — "
            "run mlp score churn@champion --run-date 2024-07-01 first",
        ),
        (["churn", "--run-date", "06/01/2024"], 1, "run date '06/01/2024' is not a date — write it as YYYY-MM-DD"),
        (["churn", "--version", "9"], 1, "no batch drift measured for model:churn@9 (measured versions: 1, 2)"),
        (
            ["batch_only", "--source", "online"],
            1,
            "no online drift measured for model batch_only — ingest its inference log first: mlp monitor ingest",
        ),
        (["churn", "--html"], 2, "give both --html and -o FILE"),
        (["churn", "--json", "--html", "-o", "x.html"], 2, "pick one of --json and --html"),
    ]
    for args, code, message in cases:
        shown = _monitor(*args)
        assert shown.exit_code == code and message in shown.output, (args, shown.output)
        assert code == 2 or shown.output.count("\n") == 1, (args, shown.output)
    monkeypatch.setitem(monitor.SUBCOMMANDS, "later", ("mlplatform.cli.no_such_module", "later", "Not yet."))
    missing = _monitor("later", "churn")
    assert missing.exit_code == 2 and "'mlp monitor later' is not part of this installation" in missing.output


def test_monitor_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from mlplatform.cli.main import cli\n"
        "try:\n    cli(['monitor', '--help'], prog_name='mlp')\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('pyspark', 'mlflow', 'deltalake', 'pandas', 'matplotlib') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out and "show" in out and "Usage: mlp monitor" in out
