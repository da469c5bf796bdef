"""mlplatform: a Spark-native ML lifecycle platform for Hadoop/YARN clusters."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
