"""conf/monitoring.yaml: defaults < model < feature, unknown keys and bad bands refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from mlplatform.errors import MonitoringError
from mlplatform.monitoring import Band, Thresholds, build_profile, compare, load_monitoring_config, model_thresholds


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitoring.yaml"
    path.write_text(text)
    return path


def test_the_projects_file_states_the_built_in_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_monitoring_config()
    assert config.source == str(REPO / "conf" / "monitoring.yaml")
    assert config.for_model("churn").default == Thresholds()
    monkeypatch.setenv("MLP_PROJECT", str(tmp_path))  # a project without the file: the built-in defaults
    assert model_thresholds("churn").default == Thresholds()
    assert model_thresholds("churn").source == "the built-in defaults"


def test_a_feature_overrides_its_model_which_overrides_the_defaults(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
defaults:
  psi: {warn: 0.2, alert: 0.3}
  alpha: 0.05
models:
  churn:
    unseen: {warn: 0.01, alert: 0.02}
    features:
      income: {psi: {warn: 1.0, alert: 2.0}, small_sample_rows: 0}
""",
    )
    churn = model_thresholds("churn", path)
    assert churn.default == Thresholds(psi=Band(0.2, 0.3), unseen=Band(0.01, 0.02), alpha=0.05)
    assert churn.get("income") == Thresholds(
        psi=Band(1.0, 2.0), unseen=Band(0.01, 0.02), alpha=0.05, small_sample_rows=0
    )
    assert churn.get("plan") == churn.default
    assert model_thresholds("other", path).default == Thresholds(psi=Band(0.2, 0.3), alpha=0.05)


def test_the_bands_of_the_file_decide_the_status(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"income": rng.normal(size=20_000), "age": rng.normal(size=20_000)})
    current = pd.DataFrame({"income": rng.normal(0.6, 1, 20_000), "age": rng.normal(0.6, 1, 20_000)})
    profile = build_profile(reference, model="churn", version=1)
    path = _write(tmp_path, "models:\n  churn:\n    features:\n      income: {psi: {warn: 5, alert: 9}}\n")
    report = compare(profile, current, thresholds=model_thresholds("churn", path))
    assert report.column("income").status == "ok" and report.column("age").status == "alert"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("defaults:\n  psii: {warn: 0.1, alert: 0.2}\n", r"monitoring.yaml: unknown key 'defaults.psii' — keys are"),
        (
            "models:\n  churn:\n    features:\n      income: {psi: {warn: 0.1, alert: 0.2, crit: 1}}\n",
            r"unknown key 'models.churn.features.income.psi.crit'",
        ),
        ("defaults:\n  psi: {warn: 0.3, alert: 0.2}\n", r"'defaults.psi': warn 0.3 is above alert 0.2; a band needs"),
        ("defaults:\n  psi: {warn: 0.1}\n", r"missing key 'defaults.psi.alert'"),
        ("defaults:\n  alpha: 2\n", r"'defaults.alpha': Input should be less than 1"),
        ("- psi\n", r"monitoring config .*monitoring.yaml must hold a mapping of keys, got list"),
        ("defaults: [\n", r"monitoring config .*monitoring.yaml is not valid YAML"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(MonitoringError, match=message) as caught:
        load_monitoring_config(path)
    assert str(tmp_path) in str(caught.value)
    if "YAML" not in message:  # specfiles.read_mapping quotes PyYAML's (multi-line) parser message as is
        assert "\n" not in caught.value.render()


def test_an_unknown_feature_in_the_file_is_refused_when_drift_is_computed(tmp_path: Path) -> None:
    path = _write(tmp_path, "models:\n  churn:\n    features:\n      tenure: {psi: {warn: 1, alert: 2}}\n")
    profile = build_profile(pd.DataFrame({"income": [1.0, 2.0]}), model="churn", version=4)
    with pytest.raises(MonitoringError) as caught:
        compare(profile, pd.DataFrame({"income": [1.0]}), thresholds=model_thresholds("churn", path))
    assert caught.value.render() == (
        f"{path} (models.churn): model:churn@4 has no feature(s) 'tenure' to set thresholds for — "
        "fix or remove the name under features:; the profiled columns are: income"
    )
    with pytest.raises(MonitoringError, match=r"monitoring config .*nope.yaml does not exist — pass an existing"):
        load_monitoring_config(tmp_path / "nope.yaml")
