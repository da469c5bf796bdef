"""This platform's pip run against another interpreter (``pip --python``): resolve, install, check."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from packaging.utils import canonicalize_name

from mlplatform.errors import EnvError

__all__ = ["pip", "resolve_pip", "install_requirements"]

log = logging.getLogger(__name__)


def pip(python: str, args: list[str], what: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run this platform's pip against another interpreter (``pip --python``).

    Raises EnvError on failure unless not ``check``.
    """
    command = [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check", "--no-input", *args]
    log.debug("running %s", " ".join(command))
    out = subprocess.run(command, capture_output=True, text=True)
    if check and out.returncode != 0:
        errors = [
            line for line in out.stderr.splitlines() if line.startswith("ERROR")
        ] or out.stderr.strip().splitlines()[-3:]
        raise EnvError(
            f"{what}: pip failed: {' '.join(errors)}",
            "check the package names and versions in the spec (pip index versions NAME)",
        )
    return out


def resolve_pip(
    python: str, requirements: list[str], name: str, ignore_installed: bool = True
) -> list[tuple[str, str]]:
    """Exact versions pip would install for ``requirements`` under ``python`` (nothing is installed)."""
    with tempfile.TemporaryDirectory(prefix="mlp-lock-") as tmp:
        reqs = Path(tmp) / "requirements.txt"
        reqs.write_text("\n".join(requirements) + "\n")
        report = Path(tmp) / "report.json"
        flags = ["--ignore-installed"] if ignore_installed else []
        pip(
            python,
            ["install", "--dry-run", *flags, "--quiet", "--report", str(report), "-r", str(reqs)],
            f"resolving environment '{name}'",
        )
        data = json.loads(report.read_text())
    return sorted(
        (canonicalize_name(item["metadata"]["name"]), item["metadata"]["version"]) for item in data["install"]
    )


def install_requirements(python: str, requirements: Sequence[str], name: str, scratch: Path) -> None:
    """Install exactly ``requirements`` (``name==version`` lines, no dependencies) under ``python``.

    The requirements file is written in ``scratch`` and removed afterwards.
    """
    reqs = scratch / f".mlp-{name}-requirements.txt"
    reqs.write_text("\n".join(requirements) + "\n")
    try:
        pip(python, ["install", "--no-deps", "--quiet", "-r", str(reqs)], f"installing environment '{name}'")
    finally:
        reqs.unlink(missing_ok=True)
