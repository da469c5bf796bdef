"""``conf/monitoring.yaml``: the drift and data-quality bands, overridable per model and per feature.

Example::

    defaults:                      # every key optional; built-in defaults in monitoring.bands
      psi: {warn: 0.1, alert: 0.25}
      null_rate_increase: {warn: 0.05, alert: 0.2}
      out_of_range: {warn: 0.05, alert: 0.2}
      unseen: {warn: 0.05, alert: 0.2}
      small_sample_rows: 10000
      alpha: 0.01
    models:
      churn:
        psi: {warn: 0.15, alert: 0.3}
        features:
          tenure_days: {psi: {warn: 0.2, alert: 0.4}}

A model's values override the defaults, a feature's values override its model's; a band
is given whole (both ``warn`` and ``alert``). Unknown keys are refused; a feature name the
model's profile does not have is refused when drift is computed
(:meth:`~mlplatform.monitoring.bands.ModelThresholds.check_columns`).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, model_validator

from mlplatform.config import conf_dir
from mlplatform.errors import MonitoringError
from mlplatform.monitoring.bands import Band, ModelThresholds, Thresholds
from mlplatform.specfiles import StrictModel, problems, read_mapping

__all__ = ["BandSpec", "ThresholdSpec", "ModelSpec", "MonitoringConfig", "load_monitoring_config", "model_thresholds"]

_HINT = (
    "keys are defaults: and models.<model>: (psi, null_rate_increase, out_of_range, unseen: {warn, alert}; "
    "small_sample_rows; alpha), and models.<model>.features.<feature>: with the same keys"
)


class BandSpec(StrictModel):
    """A band as written in the file."""

    warn: float = Field(ge=0)
    alert: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> "BandSpec":
        if self.warn > self.alert:
            raise ValueError(f"warn {self.warn} is above alert {self.alert}; a band needs warn <= alert")
        return self


class ThresholdSpec(StrictModel):
    """Thresholds as written in the file; a missing key keeps the value of the level above."""

    psi: BandSpec | None = None
    null_rate_increase: BandSpec | None = None
    out_of_range: BandSpec | None = None
    unseen: BandSpec | None = None
    small_sample_rows: int | None = Field(None, ge=0)
    alpha: float | None = Field(None, gt=0, lt=1)

    def over(self, base: Thresholds) -> Thresholds:
        """``base`` with the values this level sets."""
        changes: dict[str, Any] = {}
        for name in ("psi", "null_rate_increase", "out_of_range", "unseen"):
            band = getattr(self, name)
            if band is not None:
                changes[name] = Band(band.warn, band.alert)
        for name in ("small_sample_rows", "alpha"):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value
        return replace(base, **changes)


class ModelSpec(ThresholdSpec):
    """One model's thresholds and its per-feature overrides."""

    features: dict[str, ThresholdSpec] = Field(default_factory=dict)


class MonitoringConfig(StrictModel):
    """The whole file; :attr:`source` (not a key of the file) names it in messages."""

    defaults: ThresholdSpec = Field(default_factory=ThresholdSpec)
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    _source: str = PrivateAttr(default="the built-in defaults")

    @property
    def source(self) -> str:
        """The file the configuration was read from (or ``the built-in defaults``)."""
        return self._source

    def for_model(self, model: str) -> ModelThresholds:
        """The merged thresholds of ``model`` (the defaults when the file does not name it)."""
        source = self._source
        default = self.defaults.over(Thresholds())
        spec = self.models.get(model)
        if spec is None:
            return ModelThresholds(default=default, source=source)
        model_default = spec.over(default)
        columns = {name: feature.over(model_default) for name, feature in spec.features.items()}
        return ModelThresholds(default=model_default, columns=columns, source=f"{source} (models.{model})")


def load_monitoring_config(path: str | os.PathLike[str] | None = None) -> MonitoringConfig:
    """The monitoring configuration in effect.

    Args:
        path: an explicit file; default ``conf/monitoring.yaml`` of the project, and the
            built-in defaults when that file does not exist.

    Raises:
        MonitoringError: naming the file and the key when a key is unknown or a value is not valid,
            or when an explicit ``path`` does not exist.
    """
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise MonitoringError(f"monitoring config {file} does not exist", "pass an existing YAML file")
    else:
        file = conf_dir() / "monitoring.yaml"
        if not file.is_file():
            return MonitoringConfig()
    data = read_mapping(file, MonitoringError, "monitoring config")
    try:
        config = MonitoringConfig(**data)
    except ValidationError as exc:
        raise MonitoringError(f"monitoring config {file}: {problems(exc)}", _HINT) from exc
    config._source = str(file)
    return config


def model_thresholds(model: str, path: str | os.PathLike[str] | None = None) -> ModelThresholds:
    """The thresholds of ``model`` from :func:`load_monitoring_config` (``conf/monitoring.yaml`` by default)."""
    return load_monitoring_config(path).for_model(model)
