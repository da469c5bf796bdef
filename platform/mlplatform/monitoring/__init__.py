"""Production monitoring as a library: reference profiles, drift and data quality, their thresholds.

- :func:`build_profile`: the reference :class:`Profile` of a model version's training
  features and its outputs (``profile``);
- :func:`compare`: a :class:`DriftReport` of a scored sample against a profile — PSI,
  Jensen-Shannon distance, small-sample KS / chi-square, null-rate change, out-of-range and
  unseen shares, a status per column and overall (``drift``, measures in ``stats``);
- :func:`model_thresholds`: a model's bands from ``conf/monitoring.yaml`` (``config``,
  plain values in ``bands``);
- ``store``: ``write_profile`` / ``read_profile`` and ``write_drift`` / ``read_drift``, the
  Delta tables under ``<warehouse>/_platform/monitoring/`` (import it from there).

``profile``, ``drift``, ``stats``, ``frames`` and ``bands`` need only numpy, pandas, pyarrow
and scipy (no pydantic, YAML or Delta), so they can run next to the scored rows.
"""

from __future__ import annotations

from mlplatform.monitoring.bands import ALERT, OK, WARN, Band, ModelThresholds, Thresholds
from mlplatform.monitoring.drift import ColumnDrift, DriftReport, compare
from mlplatform.monitoring.profile import FORMAT_VERSION, ColumnProfile, Profile, build_profile

__all__ = [
    "OK",
    "WARN",
    "ALERT",
    "Band",
    "Thresholds",
    "ModelThresholds",
    "FORMAT_VERSION",
    "ColumnProfile",
    "Profile",
    "build_profile",
    "ColumnDrift",
    "DriftReport",
    "compare",
    "model_thresholds",
    "load_monitoring_config",
]


def __getattr__(name: str) -> object:
    # config needs pydantic and YAML: imported when asked for, so the rest stays light
    if name in ("model_thresholds", "load_monitoring_config"):
        from mlplatform.monitoring import config

        return getattr(config, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
