"""The probe job (``mlp submit probe``): which Python and package versions the driver and every executor task run."""

from __future__ import annotations

import json
from typing import Sequence

from mlplatform.config import load_settings, project_root
from mlplatform.launch.jobrun import JobResult, write_json
from mlplatform.launch.session import session
from mlplatform.probe import executor_report, report_from

__all__ = ["probe_job"]


def probe_job(
    packages: Sequence[str], tasks: int | None = None, out: str | None = None, driver_out: str | None = None
) -> JobResult:
    """One JSON report per executor task (to ``out`` as JSON lines, else stdout); ``driver_out`` gets the driver's.

    The driver's report adds the project and settings it sees (in YARN cluster mode the
    driver runs in a container).
    """
    spark = session(app_name="mlp-probe")
    packages = list(packages)
    if driver_out:
        driver = {**report_from(packages), "project": str(project_root()), "settings": load_settings().public()}
        write_json(driver_out, driver)
    lines = [json.dumps(r, sort_keys=True) for r in executor_report(spark, packages, tasks)]
    if out:
        with open(out, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return JobResult(lines=(f"probe: {len(lines)} task reports",), stdout=() if out else lines)
