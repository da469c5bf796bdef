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
from mlplatform.files import replacing

__all__ = ["platform_zip", "content_zip"]

_PACKAGE = Path(__file__).parent.parent  # the mlplatform package


def _sources() -> list[Path]:
    return sorted(p for p in _PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def content_zip(
    files: list[Path], base: Path, dest_dir: str | os.PathLike[str], stem: str, arc_prefix: str = ""
) -> Path:
    """Zip of ``files`` (stored relative to ``base``, under ``arc_prefix``), named ``<stem>-<sha12>.zip`` by content.

    An existing zip of the same content is reused.
    """
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(base)).encode())
        digest.update(path.read_bytes())
    target = Path(dest_dir) / f"{stem}-{digest.hexdigest()[:12]}.zip"
    if target.is_file():
        return target
    with replacing(target) as partial, zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            zf.write(path, Path(arc_prefix) / path.relative_to(base))
    return target


def platform_zip(dest_dir: str | os.PathLike[str]) -> Path:
    """Zip of the ``mlplatform`` package, named by version and content hash; reused when present."""
    return content_zip(_sources(), _PACKAGE, dest_dir, f"mlplatform-{__version__}", "mlplatform")
