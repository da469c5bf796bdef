"""Production monitoring as a library: reference profiles (drift and data quality to follow).

- :func:`build_profile`: the reference :class:`Profile` of a model version's training
  features and its outputs (``profile``; bins and counts in ``stats``).

``profile``, ``stats`` and ``frames`` need only numpy, pandas and pyarrow (no pydantic, YAML
or Delta), so they can run next to the scored rows.
"""

from __future__ import annotations

from mlplatform.monitoring.profile import FORMAT_VERSION, ColumnProfile, Profile, build_profile

__all__ = ["FORMAT_VERSION", "ColumnProfile", "Profile", "build_profile"]
