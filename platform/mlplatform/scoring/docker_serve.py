"""``mlp serve --docker``: export a model version, build its image (cached by Docker), run it here."""

from __future__ import annotations

import logging
import os
import re

from mlplatform.config import Settings
from mlplatform.scoring.export import default_context, export_version
from mlplatform.scoring.images import BASE_IMAGE, build_image, require_engine, run_image
from mlplatform.tracking.model_registry import resolve

__all__ = ["serve_docker"]

log = logging.getLogger(__name__)


def serve_docker(
    ref: str,
    settings: Settings,
    options: dict[str, str],
    base_image: str = BASE_IMAGE,
    context: str | os.PathLike[str] | None = None,
) -> int:
    """Serve ``ref`` from its image in the foreground (``--network host``); returns the container's exit code.

    The context is written to ``context`` (default ``<home>/serving/<model>/<version>``) and
    built with ``docker build --network none``; unchanged layers come from Docker's cache.
    Interrupting the caller stops and removes the container.
    """
    require_engine()
    info = resolve(ref, settings)
    written = export_version(info, context or default_context(info, settings), settings, base_image)
    tag = build_image(written)
    name = re.sub(r"[^a-zA-Z0-9_.-]", "-", f"mlp-serve-{info.name}-{info.version}-{os.getpid()}")
    log.info("running %s as container %s", tag, name)
    return run_image(tag, options, name)
