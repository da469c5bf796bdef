"""The catalog as a WSGI application: routes, templates, static files and error pages.

Every page is read-only (a POST is 405) unless the catalog is made with :class:`Actions`:
then every request must be authenticated (:mod:`mlplatform.catalog.auth`), pages show
Approve / Reject forms carrying a CSRF token, and ``POST /models/NAME/approve|reject``
decides through the approvals code of the CLI. GET never changes anything.

An HTML page has a JSON twin at the same path with ``.json`` appended
(``/models/churn.json``), so scripts and tests read the same data. An unknown id answers
404 naming it, a malformed query 400, a refused action 403 with the policy's message;
nothing a client sends gives a 5xx.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
from dataclasses import asdict, dataclass, field, is_dataclass
from importlib import resources
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl

from jinja2 import Environment, PackageLoader, StrictUndefined

from mlplatform.catalog import actions, artifacts, models, records, search
from mlplatform.catalog.auth import Authenticator, Csrf
from mlplatform.catalog.cache import RegistryCache, TableCache
from mlplatform.catalog.links import lineage_url, split_id, url_for_id, version_url
from mlplatform.catalog.paging import PAGE_SIZE, BadQuery, Page, paginate, positive_int
from mlplatform.config import Settings
from mlplatform.errors import PlatformError, UnknownModelError
from mlplatform.lifecycle.benchmark import benchmarks_table
from mlplatform.lineage.audit import Event, audit
from mlplatform.lineage.edges import lineage_table
from mlplatform.lineage.graph import LineageGraph, load_graph

__all__ = ["Catalog", "Actions", "make_app"]

log = logging.getLogger(__name__)

_NAME = r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)"
_STATUS = {
    200: "200 OK",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    413: "413 Content Too Large",
}
_ACTION = re.compile(rf"/models/{_NAME}/(?P<decision>approve|reject)")
_FORM_LIMIT = 16_384  # bytes: a decision form is a version, a note and a token

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


@dataclass(frozen=True)
class Actions:
    """Approvals enabled: who the user is (``auth``) and the tokens of their forms (``csrf``)."""

    auth: Authenticator
    csrf: Csrf = field(default_factory=Csrf)


class _Refused(Exception):
    """An answer other than the page: (status, title, message)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class Catalog:
    """The WSGI callable: ``Catalog(settings)`` serves the catalog of that platform home."""

    def __init__(self, settings: Settings, enabled: Actions | None = None) -> None:
        self.settings = settings
        self.actions = enabled
        self.cache = TableCache()
        self.registry = RegistryCache(settings)
        self.lineage_uri = lineage_table(settings)
        self.templates = Environment(
            loader=PackageLoader("mlplatform.catalog", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals.update(
            url_for_id=url_for_id, lineage_url=lineage_url, split_id=split_id, version_url=version_url
        )
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
            (re.compile(r"/requests"), self.requests),
        ]

    # ------------------------------------------------------------------ pages

    def _graph(self) -> LineageGraph:
        return self.cache.get(self.lineage_uri, "graph", lambda: load_graph(self.settings))

    def _events(self) -> list[Event]:
        return self.cache.get(self.lineage_uri, "events", lambda: audit(self.settings))

    def home(self, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
        query = params.get("q", "")
        hits = search.search(query, self.settings, [found.summary for found in self.registry.models()])
        return "home.html", {"q": query, "page": paginate(hits, params, "/")}

    def feature_set(self, params: dict[str, str], name: str) -> tuple[str, dict[str, Any]]:
        return "feature_set.html", artifacts.feature_set(name, self.settings, self._graph())

    def training_set(self, params: dict[str, str], name: str) -> tuple[str, dict[str, Any]]:
        version = positive_int(params, "version")
        return "training_set.html", artifacts.training_set(name, version, self.settings, self._graph())

    def model(self, params: dict[str, str], name: str) -> tuple[str, dict[str, Any]]:
        data = models.model(self.registry.describe(name), self.settings)
        waiting = actions.waiting(self.settings, name)
        latest = data["benchmarks"][0] if data["benchmarks"] else None
        roc = None
        if latest is not None:  # a benchmark's artifacts never change: read once per benchmarks-table version
            key = f"roc:{latest['benchmark_id']}"
            roc = self.cache.get(benchmarks_table(self.settings), key, lambda: models.roc_report(self.settings, latest))
        listed = _page_holding(data["versions"], params, f"/models/{name}")
        return "model.html", {**data, "in_lineage": self._graph().ids, "waiting": waiting, "roc": roc, "listed": listed}

    def diff(self, params: dict[str, str], name: str) -> tuple[str, dict[str, Any]]:
        a, b = positive_int(params, "a"), positive_int(params, "b")
        if a is None or b is None:
            raise BadQuery("a version diff needs two versions: ?a=1&b=2")
        return "diff.html", models.diff(self.registry.describe(name), a, b, self.settings)

    def environment(self, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
        env_id = params.get("id", "").strip()
        if not re.fullmatch(r"(env:)?[A-Za-z0-9][A-Za-z0-9_.-]*(@[0-9a-f]{12})?", env_id):
            raise BadQuery(f"'{env_id}' is not an environment id: write env:NAME or env:NAME@HASH12")
        return "environment.html", artifacts.environment(env_id, self.settings, self.registry.models())

    def scores(self, params: dict[str, str], name: str) -> tuple[str, dict[str, Any]]:
        data = artifacts.scores(name, self.settings)
        return "scores.html", {**data, "page": paginate(data["runs"], params, f"/scores/{name}")}

    def lineage(self, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
        artifact_id = params.get("id", "").strip()
        if not artifact_id:
            raise BadQuery("which artifact? /lineage?id=KIND:NAME@VERSION")
        return "lineage.html", records.lineage(artifact_id, self._graph())

    def audit(self, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
        found = records.audit_events(self._events(), params)
        filters = {k: params.get(k, "") for k in ("model", "action", "actor", "since", "until", "id")}
        page = paginate(found, params, "/audit")
        chain = self.cache.get(self.lineage_uri, "chain", lambda: records.chain(self.settings))
        return "audit.html", {"filters": filters, "page": page, "chain": chain}

    def requests(self, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
        return "requests.html", {"waiting": actions.waiting(self.settings)}

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/static/") and method in ("GET", "HEAD"):
            return self._static(start_response, path.removeprefix("/static/"))
        user = None
        if self.actions is not None:
            user = self.actions.auth.user(environ)
            if user is None:
                return self._unauthenticated(start_response)
        if method == "POST" and self.actions is not None:
            return self._post(environ, start_response, path, user or "")
        if method not in ("GET", "HEAD"):
            allowed = "GET, HEAD, POST" if self.actions is not None else "GET, HEAD"
            body = b"the catalog is read-only (mlp ui --actions enables approvals)\n" if self.actions is None else b""
            return self._send(start_response, 405, "text/plain; charset=utf-8", body, extra=[("Allow", allowed)])
        as_json = path.endswith(".json")
        status, template, context = self._answer(path.removesuffix(".json"), environ.get("QUERY_STRING", ""))
        if as_json:
            body = json.dumps(context, default=_jsonable, indent=2).encode()
            return self._send(start_response, status, "application/json", body)
        return self._html(start_response, status, template, context, user)

    def _session(self, user: str | None) -> dict[str, str | None]:
        """What the templates know of the viewer: the user and the CSRF token of their forms (read-only: none)."""
        if self.actions is None or user is None:
            return {"user": None, "csrf": ""}
        return {"user": user, "csrf": self.actions.csrf.token(user)}

    def _html(
        self, start_response: StartResponse, status: int, template: str, context: dict[str, Any], user: str | None
    ) -> Iterable[bytes]:
        session = self._session(user)
        try:
            body = self.templates.get_template(template).render(**context, session=session).encode()
        except Exception as exc:  # noqa: BLE001 - a page that cannot be drawn is logged, never a 5xx
            log.exception("catalog page %s could not be rendered", template)
            status = 400
            body = self.templates.get_template("error.html").render(**_error(_CANNOT, str(exc)), session=session)
            body = body.encode()
        return self._send(start_response, status, "text/html; charset=utf-8", body)

    def _unauthenticated(self, start_response: StartResponse) -> Iterable[bytes]:
        if self.actions is not None and self.actions.auth.kind == "basic":
            body = b"sign in: this catalog's actions are enabled and every page needs a user\n"
            challenge = [("WWW-Authenticate", 'Basic realm="mlplatform catalog", charset="UTF-8"')]
            return self._send(start_response, 401, "text/plain; charset=utf-8", body, extra=challenge)
        body = b"the proxy in front of the catalog named no user in its header\n"
        return self._send(start_response, 403, "text/plain; charset=utf-8", body)

    def _post(self, environ: dict[str, Any], start_response: StartResponse, path: str, user: str) -> Iterable[bytes]:
        """A decision form: checked (target, size, encoding, CSRF token), then decided as ``user``."""
        assert self.actions is not None
        try:
            match = _ACTION.fullmatch(path)
            if match is None:
                raise _Refused(405, "Method not allowed", f"{path} is not an action: POST /models/NAME/approve|reject")
            form = _read_form(environ)
            if not self.actions.csrf.valid(user, form.get("csrf", "")):
                raise _Refused(403, "Forbidden", "the form carries no valid CSRF token: reload the page, submit again")
            outcome = actions.decide(self.settings, match["name"], match["decision"], form, user)
            self.registry.forget(match["name"])
            return self._html(start_response, 200, "outcome.html", outcome, user)
        except _Refused as exc:
            status, title, message = exc.status, exc.title, exc.message
        except BadQuery as exc:
            status, title, message = 400, "Bad request", str(exc)
        except UnknownModelError as exc:
            status, title, message = 404, "Not found", exc.render()
        except PlatformError as exc:  # the policy refused (GovernanceError), or the request is not open
            status, title, message = 403, "Refused", exc.render()
        except Exception as exc:  # noqa: BLE001 - an action that cannot be done is logged, never a 5xx
            log.exception("catalog action %s by %s failed", path, user)
            status, title, message = 400, "Cannot do this", str(exc)
        return self._html(start_response, status, "error.html", _error(title, message), user)

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
    def _send(
        start_response: StartResponse,
        status: int,
        kind: str,
        body: bytes,
        cache: bool = False,
        extra: list[tuple[str, str]] | None = None,
    ) -> list[bytes]:
        headers = [("Content-Type", kind), ("Content-Length", str(len(body))), ("X-Content-Type-Options", "nosniff")]
        headers.append(("Cache-Control", "max-age=3600" if cache else "no-store"))
        headers.append(("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; form-action 'self'"))
        headers.append(("X-Frame-Options", "DENY"))
        start_response(_STATUS[status], headers + (extra or []))
        return [body]


def _page_holding(versions: list[Any], params: dict[str, str], path: str) -> Page:
    """The page of ``versions`` (newest first) asked for, or with ``?v=N`` the one holding version N."""
    wanted = positive_int(params, "v")
    numbers = [v.version for v in versions]
    if wanted is not None and "page" not in params:
        if wanted not in numbers:
            raise BadQuery(f"version {wanted} is not one of the {len(numbers)} versions listed")
        params = {**params, "page": str(numbers.index(wanted) // PAGE_SIZE + 1)}
    return paginate(versions, {k: v for k, v in params.items() if k != "v"}, path)


def _read_form(environ: dict[str, Any]) -> dict[str, str]:
    """The url-encoded body of a POST; _Refused for another content type, a wrong length or bad bytes."""
    kind = str(environ.get("CONTENT_TYPE", "")).partition(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise _Refused(400, "Bad request", f"a decision is a form (application/x-www-form-urlencoded), not '{kind}'")
    raw_length = str(environ.get("CONTENT_LENGTH") or "0").strip()
    if not raw_length.isdigit():
        raise _Refused(400, "Bad request", f"Content-Length '{raw_length}' is not a number")
    length = int(raw_length)
    if length > _FORM_LIMIT:
        raise _Refused(413, "Too large", f"a decision form is at most {_FORM_LIMIT} bytes, not {length}")
    body = environ["wsgi.input"].read(length) if length else b""
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body)))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Refused(400, "Bad request", f"the form cannot be read: {exc}") from exc


def make_app(settings: Settings, enabled: Actions | None = None) -> Catalog:
    """The catalog's WSGI application over the records of ``settings`` (read-only unless ``enabled``)."""
    return Catalog(settings, enabled)
