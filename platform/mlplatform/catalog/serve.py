"""Serve the catalog with the standard library's WSGI server, one thread per request."""

from __future__ import annotations

import logging
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from mlplatform.catalog.app import Actions, make_app
from mlplatform.config import Settings
from mlplatform.errors import PlatformError

__all__ = ["serve", "catalog_server"]

log = logging.getLogger(__name__)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to the debug log, not to stderr."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)


def catalog_server(
    settings: Settings, host: str = "127.0.0.1", port: int = 8800, enabled: Actions | None = None
) -> WSGIServer:
    """A bound server for the catalog of ``settings`` (``port`` 0 picks a free one; ``enabled``: actions on)."""
    try:
        app = make_app(settings, enabled)
        return make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    except OSError as exc:
        raise PlatformError(
            f"the catalog cannot listen on {host}:{port}: {exc.strerror or exc}", "pick another port with --port"
        ) from exc


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8800, enabled: Actions | None = None) -> None:
    """Serve until interrupted."""
    with catalog_server(settings, host, port, enabled) as server:
        mode = "read-only" if enabled is None else f"approvals enabled, {enabled.auth.kind} auth"
        log.info("catalog of %s at http://%s:%d/ (%s; Ctrl-C stops it)", settings.home, host, server.server_port, mode)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            log.info("catalog stopped")
