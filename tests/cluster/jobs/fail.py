"""Cluster-tier driver that fails once its Spark session is up, as a broken job would."""

from __future__ import annotations

import sys

from mlplatform.launch.session import session

session(app_name="mlp-fail")
sys.exit("the job gave up on purpose")
