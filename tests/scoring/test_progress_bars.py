"""Entry points log no MLflow progress bars: a model download after ``logconf.setup`` draws none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from scoring_support import FEATURES, make_frame, register_model

from mlplatform import logconf
from mlplatform.config import load_settings
from mlplatform.tracking import model_registry

BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def test_model_download_after_logconf_setup_draws_no_progress_bar(
    hgb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings()
    registered = register_model(settings, "bars", hgb, make_frame(5)[FEATURES])
    info = model_registry.resolve("model:bars@champion", settings)
    assert info.version == registered.version

    # MLflow's default: the batch scorer's download (scoring.batch._fetch_model) draws a bar.
    monkeypatch.setenv(BAR, "true")  # also makes monkeypatch restore the variable's absence afterwards
    capfd.readouterr()
    model_registry.download(info, tmp_path / "with-bar", settings)
    assert "Downloading artifacts" in capfd.readouterr().err

    # What the CLI, the jobs and the nightly runners do first.
    monkeypatch.delenv(BAR)
    logconf.setup()
    model_registry.download(info, tmp_path / "quiet", settings)
    out = capfd.readouterr()
    assert "Downloading artifacts" not in out.err + out.out
    assert "\r" not in out.err + out.out
    assert (tmp_path / "quiet" / model_registry.MODEL_PICKLE).is_file()
    assert os.environ[BAR] == "false"
