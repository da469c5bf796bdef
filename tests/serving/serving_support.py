"""Helpers shared by the online-scoring tests (models, ports, server processes)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

# Specs, locks and env artifacts of the serving tests, reused across runs (ids are content hashes).
CACHE = Path(__file__).resolve().parents[2] / ".mlp" / "test-cache" / "serving"
# The model's packages, pinned to the driver's versions: the model is fitted in the
# driver, so its environment must hold the same versions to unpickle it.
ENV_PACKAGES = ("scikit-learn", "pandas", "numpy", "pyarrow", "cloudpickle")


def make_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """Rows with one column of each common signature type: double, long, string, boolean."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.normal(100.0, 30.0, n),
            "visits": rng.integers(0, 20, n).astype("int64"),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "member": rng.random(n) < 0.5,
        }
    )


def train_pipeline(frame: pd.DataFrame) -> Any:
    """A small HistGradientBoosting pipeline over all four columns."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    label = ((frame["amount"] > 100) ^ frame["member"] ^ (frame["city"] == "nice")).astype(int)
    prep = ColumnTransformer(
        [
            ("num", "passthrough", ["amount", "visits", "member"]),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["city"]),
        ]
    )
    return Pipeline([("prep", prep), ("clf", HistGradientBoostingClassifier(max_iter=30, random_state=0))]).fit(
        frame, label
    )


def register(
    name: str, model: Any, frame: pd.DataFrame, env_id: str | None, experiment: str, requirements: Sequence[str]
) -> int:
    """Log ``model`` as training does (MLflow dir, cloudpickle, pandas example), register it, tag its env."""
    import mlflow
    from mlflow import MlflowClient

    from mlplatform.tracking.model_registry import TAG_ENV_ID

    with mlflow.start_run(experiment_id=experiment) as run:
        # explicit requirements: MLflow's own inference runs the model in a subprocess (slow)
        mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            input_example=frame.head(3),
            pip_requirements=list(requirements),
        )
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", name).version
    if env_id:
        MlflowClient().set_model_version_tag(name, version, TAG_ENV_ID, env_id)
    return int(version)


def write_if_changed(path: Path, text: str) -> Path:
    """Write ``path`` only when its text changed (keeps the lock beside a spec valid)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def env_spec_text(name: str, builder: str = "venv") -> str:
    from importlib.metadata import version

    pins = "".join(f"  - {pkg}=={version(pkg)}\n" for pkg in ENV_PACKAGES)
    return f'name: {name}\npython: "3.11"\nbuilder: {builder}\npackages:\n{pins}'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(
    port: int,
    path: str,
    body: bytes | str | None = None,
    content_type: str = "application/json",
    method: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    """One HTTP request to 127.0.0.1:port; returns (status, parsed JSON body or raw text)."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method or ("POST" if data is not None else "GET")
    )
    if data is not None:
        req.add_header("Content-Type", content_type)
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


DOCKER_WAIT_SECONDS = 120


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The docker CLI, output captured."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def wait_for_ping(port: int, what: str) -> None:
    """Wait until GET /ping on ``port`` answers 200 (a container starting), at most DOCKER_WAIT_SECONDS."""
    deadline = time.monotonic() + DOCKER_WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            if request(port, "/ping", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} did not answer /ping on port {port}")


def wait_ready(port: int, proc: subprocess.Popen[Any], timeout: float = 60) -> float:
    """Seconds until GET /ping answers 200; fails if the process exits first."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering /ping")
        try:
            if request(port, "/ping", timeout=2)[0] == 200:
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} not ready after {timeout} s")


def start(
    argv: Sequence[str], cwd: Path | None, env: dict[str, str], port: int, log: Path, timeout: float = 60
) -> subprocess.Popen[Any]:
    """Start a server process (its output to ``log``) and wait until it answers /ping."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(list(argv), cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, proc, timeout)
    except RuntimeError as exc:
        stop(proc)
        raise RuntimeError(f"{exc}\n{log.read_text()[-3000:]}") from None
    return proc


def stop(proc: subprocess.Popen[Any]) -> None:
    """Terminate a server started by :func:`start` and wait for it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def workers(master: int, expect: int | None = None, timeout: float = 20) -> list[int]:
    """PIDs of a gunicorn master's workers; with ``expect``, wait until that many run."""
    deadline = time.monotonic() + timeout
    while True:
        pids = sorted(int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split())
        if expect is None or len(pids) == expect or time.monotonic() > deadline:
            return pids
        time.sleep(0.05)


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children (Linux /proc)."""
    total = 0
    for p in [pid, *workers(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            pass
    return total
