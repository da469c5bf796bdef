"""``mlp ui`` serves the catalog over HTTP from a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

# the root conftest's values (a module named conftest may be another folder's in a full run)
REPO = Path(__file__).resolve().parents[2]
MLP = str(Path(sys.executable).with_name("mlp"))

STARTUP_LIMIT = 120  # seconds: a fixture guard against a server that never answers, not a measurement


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_ui(home: Path, *options: str) -> tuple[subprocess.Popen[str], str]:
    """``mlp ui OPTIONS`` on a free port over ``home``, once it answers: (process, base URL)."""
    port = free_port()
    env = {**os.environ, "MLP_HOME": str(home), "MLP_PROJECT": str(REPO)}
    proc = subprocess.Popen(
        [MLP, "ui", "--port", str(port), *options], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_LIMIT
    while True:
        try:
            urllib.request.urlopen(base + "/static/catalog.css", timeout=5).close()
            return proc, base
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"mlp ui did not start: {proc.communicate()[0]}")
            time.sleep(0.2)


@pytest.fixture
def ui_server(mlp_home: Path, settings) -> Iterator[str]:  # noqa: ANN001 - the settings fixture
    proc, base = start_ui(mlp_home)
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def test_mlp_ui_serves_pages_and_assets(ui_server: str) -> None:
    with urllib.request.urlopen(ui_server + "/") as page:
        assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        assert b'href="/static/catalog.css"' in page.read()
    with urllib.request.urlopen(ui_server + "/static/catalog.css") as css:
        assert css.headers["Content-Type"] == "text/css"
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(ui_server + "/models/nope")
    assert missing.value.code == 404
    request = urllib.request.Request(ui_server + "/audit", data=b"x=1", method="POST")
    with pytest.raises(urllib.error.HTTPError) as posted:
        urllib.request.urlopen(request)
    assert posted.value.code == 405


def test_port_in_use_is_one_clear_error(mlp, settings) -> None:  # noqa: ANN001 - fixtures
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = mlp(["ui", "--port", str(taken.getsockname()[1])])
    assert done.returncode == 1
    assert "cannot listen on 127.0.0.1" in done.stderr and "--port" in done.stderr
