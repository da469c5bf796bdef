"""The catalog as a WSGI application: routes, templates, static files and error pages.

Every page is read-only. An HTML page has a JSON twin at the same path with ``.json``
appended (``/models/churn.json``), so scripts and tests read the same data. An unknown
id answers 404 naming it, a malformed query 400; nothing a client sends gives a 5xx.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
from dataclasses import asdict, is_dataclass
from importlib import resources
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl

from jinja2 import Environment, PackageLoader, StrictUndefined

from mlplatform.catalog import artifacts, models, records, search
from mlplatform.catalog.links import lineage_url, split_id, url_for_id
from mlplatform.catalog.paging import BadQuery, paginate, positive_int
from mlplatform.config import Settings
from mlplatform.errors import PlatformError
from mlplatform.lineage.graph import LineageGraph, load_graph

__all__ = ["Catalog", "make_app"]

log = logging.getLogger(__name__)

_NAME = r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)"
_STATUS = {200: "200 OK", 400: "400 Bad Request", 404: "404 Not Found", 405: "405 Method Not Allowed"}

_CANNOT = "Cannot show this page"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class NotFound(Exception):
    """An id the records do not hold (answered with 404 and a search link)."""

    def __init__(self, what: str, detail: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.detail = detail


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


def _error(title: str, message: str, what: str = "") -> dict[str, str]:
    return {"title": title, "message": message, "what": what}


class Catalog:
    """The WSGI callable: ``Catalog(settings)`` serves the catalog of that platform home."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.templates = Environment(
            loader=PackageLoader("mlplatform.catalog", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals.update(url_for_id=url_for_id, lineage_url=lineage_url, split_id=split_id)
        self.routes: list[tuple[re.Pattern[str], Callable[..., tuple[str, dict[str, Any]]]]] = [
            (re.compile(r"/"), self.home),
            (re.compile(rf"/fs/{_NAME}"), self.feature_set),
            (re.compile(rf"/ts/{_NAME}"), self.training_set),
            (re.compile(rf"/models/{_NAME}"), self.model),
            (re.compile(rf"/models/{_NAME}/diff"), self.diff),
            (re.compile(r"/env"), self.environment),
            (re.compile(rf"/scores/{_NAME}"), self.scores),
            (re.compile(r"/lineage"), self.lineage),
            (re.compile(r"/audit"), self.audit),
        ]

    # ------------------------------------------------------------------ pages

    def _graph(self) -> LineageGraph:
        return load_graph(self.settings)

    def home(self, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
        query = params.get("q", "")
        hits = search.search(query, self.settings)
        return "home.html", {"q": query, "page": paginate(hits, params, "/")}

    def feature_set(self, params: dict[str, str], name: str) -> tuple[str, dict[str, Any]]:
        return "feature_set.html", artifacts.feature_set(name, self.settings, self._graph())

    def training_set(self, params: dict[str, str], name: str) -> tuple[str, dict[str, Any]]:
        version = positive_int(params, "version")
        return "training_set.html", artifacts.training_set(name, version, self.settings, self._graph())

    def model(self, params: dict[str, str], name: str) -> tuple[str, dict[str, Any]]:
        data = models.model(name, self.settings)
        return "model.html", {**data, "in_lineage": self._graph().ids}

    def diff(self, params: dict[str, str], name: str) -> tuple[str, dict[str, Any]]:
        a, b = positive_int(params, "a"), positive_int(params, "b")
        if a is None or b is None:
            raise BadQuery("a version diff needs two versions: ?a=1&b=2")
        return "diff.html", models.diff(name, a, b, self.settings)

    def environment(self, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
        env_id = params.get("id", "").strip()
        if not re.fullmatch(r"(env:)?[A-Za-z0-9][A-Za-z0-9_.-]*(@[0-9a-f]{12})?", env_id):
            raise BadQuery(f"'{env_id}' is not an environment id: write env:NAME or env:NAME@HASH12")
        return "environment.html", artifacts.environment(env_id, self.settings)

    def scores(self, params: dict[str, str], name: str) -> tuple[str, dict[str, Any]]:
        data = artifacts.scores(name, self.settings)
        return "scores.html", {**data, "page": paginate(data["runs"], params, f"/scores/{name}")}

    def lineage(self, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
        artifact_id = params.get("id", "").strip()
        if not artifact_id:
            raise BadQuery("which artifact? /lineage?id=KIND:NAME@VERSION")
        return "lineage.html", records.lineage(artifact_id, self._graph())

    def audit(self, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
        found = records.audit_events(self.settings, params)
        filters = {k: params.get(k, "") for k in ("model", "action", "actor", "since", "until", "id")}
        page = paginate(found, params, "/audit")
        return "audit.html", {"filters": filters, "page": page, "chain": records.chain(self.settings)}

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return self._send(start_response, 405, "text/plain; charset=utf-8", b"the catalog is read-only\n")
        if path.startswith("/static/"):
            return self._static(start_response, path.removeprefix("/static/"))
        as_json = path.endswith(".json")
        status, template, context = self._answer(path.removesuffix(".json"), environ.get("QUERY_STRING", ""))
        if as_json:
            body = json.dumps(context, default=_jsonable, indent=2).encode()
            return self._send(start_response, status, "application/json", body)
        try:
            body = self.templates.get_template(template).render(**context).encode()
        except Exception as exc:  # noqa: BLE001 - a page that cannot be drawn is logged, never a 5xx
            log.exception("catalog page %s could not be rendered", path)
            status, body = 400, self.templates.get_template("error.html").render(**_error(_CANNOT, str(exc))).encode()
        return self._send(start_response, status, "text/html; charset=utf-8", body)

    def _answer(self, path: str, query: str) -> tuple[int, str, dict[str, Any]]:
        """(status, template, context) of a page; client mistakes and unknown ids become 400 and 404."""
        params: dict[str, str] = {}
        try:
            params = dict(parse_qsl(query, keep_blank_values=True))
            return 200, *self._dispatch(path, params)
        except BadQuery as exc:
            return 400, "error.html", _error("Bad request", str(exc))
        except NotFound as exc:
            return 404, "error.html", _error("Not found", exc.detail, exc.what)
        except PlatformError as exc:
            what = params.get("id") or path.rstrip("/").rsplit("/", 1)[-1]
            return 404, "error.html", _error("Not found", exc.render(), what)
        except Exception as exc:  # noqa: BLE001 - a page that cannot be read is the client's 400, logged for us
            log.exception("catalog page %s failed", path)
            return 400, "error.html", _error(_CANNOT, str(exc))

    def _dispatch(self, path: str, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
        for pattern, page in self.routes:
            match = pattern.fullmatch(path)
            if match:
                return page(params, **match.groupdict())
        raise NotFound(path, "no catalog page has this address")

    def _static(self, start_response: StartResponse, name: str) -> Iterable[bytes]:
        asset = resources.files("mlplatform.catalog").joinpath("static", name)
        if not re.fullmatch(r"[A-Za-z0-9_-]+\.(css|js|svg)", name) or not asset.is_file():
            return self._send(start_response, 404, "text/plain; charset=utf-8", f"no asset '{name}'\n".encode())
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return self._send(start_response, 200, kind, asset.read_bytes(), cache=True)

    @staticmethod
    def _send(start_response: StartResponse, status: int, kind: str, body: bytes, cache: bool = False) -> list[bytes]:
        headers = [("Content-Type", kind), ("Content-Length", str(len(body))), ("X-Content-Type-Options", "nosniff")]
        headers.append(("Cache-Control", "max-age=3600" if cache else "no-store"))
        headers.append(("Content-Security-Policy", "default-src 'self'; img-src 'self' data:"))
        start_response(_STATUS[status], headers)
        return [body]


def make_app(settings: Settings) -> Catalog:
    """The catalog's WSGI application over the records of ``settings``."""
    return Catalog(settings)
