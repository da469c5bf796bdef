"""Approvals in the catalog, through the WSGI app in process: HTTP auth, CSRF, the two-person rule, bad input."""

from __future__ import annotations

import base64
import html
import io
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from .conftest import APPROVER, AUTHOR, OUTSIDER, PASSWORDS, REQUESTER
from .test_ui_server import MLP


def call(
    app: Any, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    """One request to the WSGI ``app``: (status code, response headers, body with HTML entities decoded)."""
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(response_headers)

    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "wsgi.input": io.BytesIO(body),
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    text = html.unescape(b"".join(app(environ, start_response)).decode())
    return int(seen["status"].split()[0]), seen["headers"], text


def basic(user: str, password: str | None = None) -> dict[str, str]:
    secret = f"{user}:{PASSWORDS.get(user, '') if password is None else password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(secret).decode()}


def token(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, page[-800:]
    return found.group(1)


def decide(app: Any, user: str, decision: str, form: dict[str, str], csrf: str | None = None) -> tuple[int, str]:
    """POST the decision form as ``user``, with the token of their model page (unless ``csrf`` is given)."""
    if csrf is None:
        status, _, page = call(app, "GET", "/models/churn", headers=basic(user))
        assert status == 200
        csrf = token(page)
    fields = {"csrf": csrf, **form}
    status, _, body = call(app, "POST", f"/models/churn/{decision}", urlencode(fields).encode(), basic(user))
    return status, body


@pytest.fixture
def app(governed_home: Any, mlp_home: Path) -> Any:
    from mlplatform.catalog.app import Actions, make_app
    from mlplatform.catalog.auth import BasicAuth

    return make_app(governed_home, Actions(BasicAuth.from_file(mlp_home / "passwords")))


def test_basic_auth_names_the_user_and_refuses_everyone_else(app: Any) -> None:
    for headers in [
        {},
        basic(APPROVER, "wrong"),
        basic("mallory", "x"),
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer x"},
    ]:
        status, sent, body = call(app, "GET", "/models/churn", headers=headers)
        assert status == 401 and sent["WWW-Authenticate"].startswith("Basic realm="), headers
        assert "champion" not in body
    assert call(app, "GET", "/static/catalog.css")[0] == 200  # assets need no user
    status, _, page = call(app, "GET", "/models/churn", headers=basic(APPROVER))
    assert status == 200 and f'<strong id="user">{APPROVER}</strong>' in page


def test_the_author_the_requester_and_a_non_approver_are_refused_a_second_approver_promotes(
    app: Any, governed_home: Any
) -> None:
    from mlplatform.lifecycle.models import champion_version
    from mlplatform.lineage.audit import audit

    status, _, page = call(app, "GET", "/requests", headers=basic(APPROVER))
    assert status == 200 and page.count('class="approve"') == 1 and "beats v1 on the holdout" in page
    for user, words in [
        (AUTHOR, f"user '{AUTHOR}' registered model:churn@2 and may not approve its promotion"),
        (REQUESTER, f"user '{REQUESTER}' asked for request"),
        (OUTSIDER, f"user '{OUTSIDER}' is not an approver of model 'churn'"),
    ]:
        status, body = decide(app, user, "approve", {"version": "2"})
        assert status == 403 and words in body, (user, body[-600:])
        assert champion_version("churn", governed_home) == 1
    status, body = decide(app, APPROVER, "approve", {"version": "2"}, csrf="0" * 64)
    assert status == 403 and "CSRF" in body
    mine = token(call(app, "GET", "/models/churn", headers=basic(OUTSIDER))[2])
    assert decide(app, APPROVER, "approve", {"version": "2"}, csrf=mine)[0] == 403  # another user's token
    status, _, body = call(app, "POST", "/models/churn/approve", b"version=2", basic(APPROVER))
    assert status == 403 and champion_version("churn", governed_home) == 1

    dave_token = token(call(app, "GET", "/models/churn", headers=basic(APPROVER))[2])
    status, body = decide(app, APPROVER, "approve", {"version": "2", "note": "checked the report"})
    assert status == 200 and f"approved by {APPROVER}" in body and '<strong id="champion">version 2</strong>' in body
    assert champion_version("churn", governed_home) == 2
    (row,) = audit(governed_home, action="promote", artifact="model:churn@2")
    assert row.actor == APPROVER and row.details["approval"]["requested_by"] == REQUESTER
    assert [e.actor for e in audit(governed_home, action="governance.approved")] == [APPROVER]
    status, body = decide(app, APPROVER, "approve", {"version": "2"}, csrf=dave_token)
    assert status == 403 and "nothing waits for a decision" in body  # decided already: the policy's own line


def test_a_rejection_needs_a_reason_and_leaves_the_champion(app: Any, governed_home: Any) -> None:
    from mlplatform.lifecycle.approvals import requests
    from mlplatform.lifecycle.models import champion_version

    status, body = decide(app, APPROVER, "reject", {"version": "2", "note": "  "})
    assert status == 400 and "needs a reason" in body
    status, body = decide(app, APPROVER, "reject", {"version": "2", "note": "holdout too small"})
    assert status == 200 and f"rejected by {APPROVER}" in body and "the champion stays version 1" in body
    assert champion_version("churn", governed_home) == 1
    assert [(r.status(), r.decided_by, r.note) for r in requests(governed_home, "churn")] == [
        ("rejected", APPROVER, "holdout too small")
    ]
    assert "Nothing waits for a decision" in call(app, "GET", "/models/churn", headers=basic(APPROVER))[2]


def test_read_only_catalog_shows_no_form_and_refuses_posts(governed_home: Any) -> None:
    from mlplatform.catalog.app import make_app

    app = make_app(governed_home)
    status, _, page = call(app, "GET", "/models/churn")
    assert status == 200 and "beats v1 on the holdout" in page  # the pending request is shown
    assert '<form class="decide"' not in page and 'name="csrf"' not in page
    assert 'class="decide"' not in call(app, "GET", "/requests")[2]
    status, sent, _ = call(app, "POST", "/models/churn/approve", b"version=2")
    assert status == 405 and sent["Allow"] == "GET, HEAD"


def test_header_auth_takes_the_proxy_user(governed_home: Any) -> None:
    from mlplatform.catalog.app import Actions, make_app
    from mlplatform.catalog.auth import HeaderAuth

    app = make_app(governed_home, Actions(HeaderAuth("X-Remote-User")))
    assert call(app, "GET", "/models/churn")[0] == 403  # no header: the proxy named nobody
    status, _, page = call(app, "GET", "/models/churn", headers={"X-Remote-User": f"{APPROVER}@EXAMPLE.COM"})
    assert status == 200 and f'<strong id="user">{APPROVER}</strong>' in page
    assert call(app, "GET", "/", headers={"X-Remote-User": "a b;c"})[0] == 403


def test_malformed_requests_to_the_actions_never_give_a_5xx(app: Any) -> None:
    good = basic(APPROVER)
    csrf = token(call(app, "GET", "/models/churn", headers=good)[2])
    cases: list[tuple[str, str, bytes, dict[str, str], int]] = [
        ("PUT", "/models/churn/approve", b"", good, 405),
        ("DELETE", "/models/churn", b"", good, 405),
        ("BREW", "/", b"", good, 405),
        ("POST", "/models/churn", b"version=2", good, 405),
        ("POST", "/models/churn/promote", b"version=2", good, 405),
        ("POST", "/models/../../etc/approve", b"", good, 405),
        ("POST", "/models/churn/approve", b"version=2", {**good, "Content-Type": "application/json"}, 400),
        ("POST", "/models/churn/approve", b"version=2", {**good, "Content-Length": "abc"}, 400),
        ("POST", "/models/churn/approve", b"version=2", {**good, "Content-Length": "99999999"}, 413),
        ("POST", "/models/churn/approve", b"\xff\xfe=\x00", good, 400),
        ("POST", "/models/churn/approve", b"a=1&&&==&b", good, 400),
        ("POST", "/models/churn/approve", urlencode({"csrf": csrf}).encode(), good, 400),
        ("POST", "/models/churn/approve", urlencode({"csrf": "é" * 64, "version": "2"}).encode(), good, 403),
        ("POST", "/models/churn/approve", urlencode({"csrf": csrf, "version": "two"}).encode(), good, 400),
        ("POST", "/models/churn/approve", urlencode({"csrf": csrf, "version": "-1"}).encode(), good, 400),
        ("POST", "/models/churn/approve", urlencode({"csrf": csrf, "version": "99"}).encode(), good, 404),
        ("POST", "/models/nope/approve", urlencode({"csrf": csrf, "version": "1"}).encode(), good, 404),
        ("POST", "/models/churn/approve", urlencode({"csrf": csrf, "version": "1"}).encode(), good, 403),
        ("POST", "/models/churn/approve", b"version=2", {"Authorization": "Basic " + "A" * 5000}, 401),
        ("POST", "/models/churn/approve", b"version=2", {"Authorization": "Basic w6k="}, 401),
        ("GET", "/models/churn?%zz=%%", b"", good, 200),
        ("GET", "/requests?page=abc", b"", good, 200),
        ("GET", "/models/churn/approve", b"", good, 404),
    ]
    for method, path, body, headers, expected in cases:
        status, _, text = call(app, method, path, body, headers)
        assert status == expected, (method, path, body, headers.keys(), status, text[-400:])


def test_password_file_entries_and_startup_errors(tmp_path: Path, mlp: Any, settings: Any) -> None:
    from mlplatform.catalog.auth import BasicAuth, load_passwords

    file = tmp_path / "passwords"
    command = [MLP, "ui", "passwd", str(file), "erin", "--password-stdin"]
    done = subprocess.run(command, input="s3cret\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (line,) = file.read_text().splitlines()
    assert line.startswith("erin:pbkdf2_sha256$") and "s3cret" not in line and oct(file.stat().st_mode)[-3:] == "600"
    auth = BasicAuth(load_passwords(file))
    assert auth.user({"HTTP_AUTHORIZATION": basic("erin", "s3cret")["Authorization"]}) == "erin"
    assert auth.user({"HTTP_AUTHORIZATION": basic("erin", "s3cret ")["Authorization"]}) is None

    file.write_text(line + "\nfrank:plaintext\n")
    for options, words in [
        (["--actions", "--auth", "basic", "--passwords", str(file)], f"password file {file} line 2"),
        (["--actions", "--auth", "basic", "--passwords", str(tmp_path / "none")], "cannot be read"),
        (["--actions", "--auth", "basic"], "--auth basic needs --passwords FILE"),
        (["--actions"], "--actions needs to know who is acting"),
        (["--auth", "basic", "--passwords", str(file)], "only apply with --actions"),
        (["--actions", "--auth", "header", "--host", "0.0.0.0"], "--auth header on 0.0.0.0"),
    ]:
        done = mlp(["ui", "--port", "0", *options])
        assert done.returncode == 1 and words in done.stderr, (options, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_http_user_acts_only_inside_its_request_and_thread() -> None:
    import threading

    from mlplatform.identity import acting_for, current_actor

    me, seen = current_actor(), []
    with acting_for("zoe"):
        other = threading.Thread(target=lambda: seen.append(current_actor()))
        other.start()
        other.join()
        assert current_actor() == "zoe"
    assert current_actor() == me and seen == [me] and me != "zoe"
