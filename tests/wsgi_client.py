"""Calling a WSGI application in this process, as a server would (no socket)."""

from __future__ import annotations

import io
from typing import Any, Callable


def post(app: Callable[..., Any], body: bytes, path: str = "/invocations") -> tuple[str, bytes]:
    """POST ``body`` as JSON to ``app``; (status line, response body)."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    statuses: list[str] = []
    answer = b"".join(app(environ, lambda status, headers, *rest: statuses.append(status)))
    return statuses[0], answer
