"""The wheels of exactly a lock, downloaded on this machine, for an image built without the network.

``wheelhouse(["numpy==2.4.6", ...], "3.11.7", dest)`` runs ``pip download --no-deps
--only-binary=:all:`` under an interpreter of that version (so wheel tags are the
environment's), then writes ``dest/requirements.txt`` — one ``name==version
--hash=sha256:...`` line per wheel — and ``dest/SHA256SUMS``. Inside the image
``pip install --no-index --require-hashes --find-links`` installs them and nothing else.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Sequence

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from mlplatform.envs.interpreters import find_python
from mlplatform.envs.piptool import pip
from mlplatform.errors import ScoringError
from mlplatform.files import sha256_file

__all__ = ["wheelhouse", "REQUIREMENTS", "SUMS"]

log = logging.getLogger(__name__)

REQUIREMENTS = "requirements.txt"
SUMS = "SHA256SUMS"


def wheelhouse(requirements: Sequence[str], python_version: str, dest: str | os.PathLike[str], owner: str) -> Path:
    """Download one wheel per ``name==version`` line into ``dest`` and write the hashed requirements.

    Args:
        owner: what the requirements belong to (an env id), named in errors.

    Raises:
        ScoringError: a requirement without a wheel for that Python on this platform
            (the build would need the network to compile it), or pip failing.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    python = find_python(python_version).executable
    reqs = dest / REQUIREMENTS
    reqs.write_text("".join(f"{line}\n" for line in requirements))
    log.info("downloading the %d wheels of %s for a hermetic image", len(requirements), owner)
    out = pip(python, ["download", "--no-deps", "--only-binary=:all:", "-d", str(dest), "-r", str(reqs)], "", False)
    if out.returncode != 0:
        missing = re.findall(r"No matching distribution found for (\S+)", out.stderr)
        if missing:
            raise ScoringError(
                f"{owner}: {', '.join(missing)} has no wheel for Python {python_version} on this platform, "
                "so the image could not install it without the network",
                "pin a version that ships a wheel (mlp env lock NAME --refresh after editing the spec)",
            )
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise ScoringError(f"{owner}: pip could not download the wheels of its lock: {last}", "check the package index")
    wanted = {canonicalize_name(Requirement(line).name): line for line in requirements}
    wheels: dict[str, Path] = {}
    for path in sorted(dest.glob("*.whl")):
        name = canonicalize_name(parse_wheel_filename(path.name)[0])
        if name in wheels or name not in wanted:
            raise ScoringError(f"{owner}: pip downloaded an unexpected wheel {path.name}", "report this as a bug")
        wheels[name] = path
    lines, sums = [], []
    for name, line in sorted(wanted.items()):
        digest = sha256_file(wheels[name])
        lines.append(f"{line} --hash=sha256:{digest}\n")
        sums.append(f"{digest}  {wheels[name].name}\n")
    reqs.write_text("".join(lines))
    (dest / SUMS).write_text("".join(sums))
    return dest
