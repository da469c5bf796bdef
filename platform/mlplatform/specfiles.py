"""The platform's YAML files (settings, specs, definitions): read as a mapping, errors as one line.

Every file-backed model (``conf/platform.yaml``, ``envs/*.yaml``, ``conf/models/*.yaml``,
``conf/features/*.yaml``, ``conf/scoring.yaml``) reports problems the same way::

    <what> <file>: unknown key 'search.trails'; missing key 'label'; 'cv.folds': Input should be ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from mlplatform.errors import PlatformError, error_line

__all__ = ["StrictModel", "read_mapping", "problems"]


class StrictModel(BaseModel):
    """Base of every model read from a platform file: an unknown key is an error, an instance is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def problems(exc: ValidationError) -> str:
    """One phrase per validation error, joined with ``; `` (keys dotted, pydantic's prefixes dropped)."""
    out = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            out.append(f"unknown key '{key}'")
        elif err["type"] == "missing":
            out.append(f"missing key '{key}'")
        else:
            out.append(f"'{key}': {message}" if key else message)
    return "; ".join(out)


def read_mapping(path: Path, error: type[PlatformError], what: str) -> dict[str, Any]:
    """The YAML mapping in ``path`` (empty file: ``{}``).

    Raises:
        error: naming ``what`` and the file when it is not valid YAML or not a mapping.
    """
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or error_line(exc)
        raise error(f"{what} {path} is not valid YAML{where}: {reason}", "fix the syntax of the file") from exc
    if not isinstance(data, dict):
        raise error(f"{what} {path} must hold a mapping of keys, got {type(data).__name__}")
    return data
