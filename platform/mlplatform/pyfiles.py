"""The platform's own code as a zip for ``--py-files``, built once per source content.

Executors then import the platform's executor-side modules from the zip, so a
model's environment does not have to contain the platform.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

from mlplatform import __version__

__all__ = ["platform_zip"]

_PACKAGE = Path(__file__).parent


def _sources() -> list[Path]:
    return sorted(p for p in _PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def platform_zip(dest_dir: str | os.PathLike[str]) -> Path:
    """Zip of the ``mlplatform`` package, named by version and content hash; reused when present."""
    sources = _sources()
    digest = hashlib.sha256()
    for path in sources:
        digest.update(str(path.relative_to(_PACKAGE)).encode())
        digest.update(path.read_bytes())
    target = Path(dest_dir) / f"mlplatform-{__version__}-{digest.hexdigest()[:12]}.zip"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sources:
            zf.write(path, Path("mlplatform") / path.relative_to(_PACKAGE))
    partial.replace(target)
    return target
