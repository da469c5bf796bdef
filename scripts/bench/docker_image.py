"""Benchmark: the hermetic scoring image, built and run by the local Docker engine.

    scripts/docker-engine start
    .venv/bin/python scripts/bench/docker_image.py            # model and env of online_scoring.py --quick
    .venv/bin/python scripts/bench/docker_image.py --skip-mlflow

Measured, same run: the base image (``mlp export base-image``; its root tarball is cached
under the bench cache, so only the first run pays debootstrap), the context export (wheel
download), a cold ``docker build --network none --no-cache`` and a warm one after a
fresh export (Docker's layer cache, primed by one untimed build), the image size and its environment layer, and the
container's cold start (``docker run`` to the first 200 on ``/ping``, median of 3,
read-only root, one worker). ``mlflow models build-docker`` cannot run here (it pulls
``python:<version>-slim`` and pip-installs from the index inside the build), so its
size is compared as a dependency set: a venv of ``mlflow==<version>`` + the model's
requirements (``online_scoring.mlflow_venv``), against our image's environment layer.

Targets (issue 19): image dependencies <= 0.6x MLflow's set, cold start < 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from online_scoring import CACHE, mlflow_venv, setup_model, site_packages_size  # noqa: E402  (same model)

from mlplatform.config import load_settings  # noqa: E402
from mlplatform.scoring.export import export_docker  # noqa: E402
from mlplatform.scoring.images import build_base_image, require_engine  # noqa: E402

TAG = "mlp-bench-docker:latest"


def timed(argv: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return time.monotonic() - started


def build(context: Path, cold: bool) -> float:
    return timed(["docker", "build", "--network", "none", *(["--no-cache"] if cold else []), "-t", TAG, str(context)])


def cold_start(port: int) -> float:
    name = f"mlp-bench-cold-{os.getpid()}"
    argv = ["docker", "run", "--detach", "--rm", "--name", name, "--network", "host", "--read-only"]
    argv += ["--tmpfs", "/tmp", "--env", f"MLP_PORT={port}", "--env", "MLP_WORKERS=1", TAG]
    started = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as resp:
                    if resp.status == 200:
                        return time.monotonic() - started
            except OSError:
                time.sleep(0.02)
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True)


def image_sizes() -> tuple[int, int]:
    """The image's size and that of its environment layer (the ``COPY --from=env /opt/mlp`` step)."""
    size = json.loads(subprocess.run(["docker", "image", "inspect", TAG], capture_output=True, text=True).stdout)[0]
    history = subprocess.run(
        ["docker", "history", "--no-trunc", "--human=false", "--format", "{{.Size}}\t{{.CreatedBy}}", TAG],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    layer = next(int(line.split("\t")[0]) for line in history if "COPY dir:" in line and "/opt/mlp/" in line)
    return int(size["Size"]), layer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-mlflow", action="store_true", help="do not build the MLflow venv for the comparison")
    benchlib.add_arguments(parser, __file__)
    args = parser.parse_args()
    require_engine()
    watch = benchlib.LoadWatch.from_args(args).start()
    home = Path(tempfile.mkdtemp(prefix="mlp-bench-docker-"))
    try:
        print("setting up: environment, model, base image ...", flush=True)
        context, _, _ = setup_model(True, home)
        os.environ["MLP_HOME"] = str(CACHE.parent / "docker_image")
        started = time.monotonic()
        base = build_base_image(load_settings())
        base_seconds = time.monotonic() - started
        print("building cold, then warm after a fresh export ...", flush=True)
        cold = build(context, cold=True)
        build(context, cold=False)  # after a --no-cache build, the legacy builder's next build misses once
        started = time.monotonic()
        export_docker("bench_online@1", context, load_settings(environ={**os.environ, "MLP_HOME": str(home)}))
        export_seconds = time.monotonic() - started
        warm = build(context, cold=False)
        image, env_layer = image_sizes()
        starts = [cold_start(port) for port in (18601, 18602, 18603)]
        mlflow = None if args.skip_mlflow else site_packages_size(mlflow_venv(context / "model"))
        watch.stop()
        driver = subprocess.run(["docker", "info", "--format", "{{.Driver}}"], capture_output=True, text=True).stdout
        hw = benchlib.hardware(("mlflow",), {"storage driver": driver.strip()})
        report(base, base_seconds, export_seconds, cold, warm, image, env_layer, starts, mlflow, hw)
        print(watch.summary())
        benchlib.write_json(
            args.json,
            {
                "base_image": base,
                "base_image_s": base_seconds,
                "export_s": export_seconds,
                "build_cold_s": cold,
                "build_warm_s": warm,
                "image_bytes": image,
                "env_layer_bytes": env_layer,
                "cold_start_s": starts,
                "mlflow_set": None if mlflow is None else {"bytes": mlflow[0], "packages": mlflow[1]},
                # a size ratio: the load does not change it, so it is not guarded
                "env_layer_vs_mlflow": None if mlflow is None else env_layer / mlflow[0],
            },
            watch,
            hw,
        )
        print(f"figures written to {args.json}")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def report(
    base: str,
    base_seconds: float,
    export_seconds: float,
    cold: float,
    warm: float,
    image: int,
    env_layer: int,
    starts: list[float],
    mlflow: tuple[int, int] | None,
    hw: dict[str, object],
) -> None:
    print()
    print(f"Scoring image, HistGradientBoosting (online_scoring --quick model); {benchlib.hardware_line(hw)}")
    rows = [
        (f"base image {base} (cached root tarball; first run debootstraps)", f"{base_seconds:.1f} s"),
        ("export (context + wheel download)", f"{export_seconds:.1f} s"),
        ("docker build --network none, cold (--no-cache)", f"{cold:.1f} s"),
        ("docker build --network none, warm (fresh export)", f"{warm:.1f} s"),
        ("image size", f"{image / 1e6:.0f} MB"),
        ("  its environment layer (/opt/mlp)", f"{env_layer / 1e6:.0f} MB"),
        ("cold start, docker run -> first 200 on /ping (median of 3)", f"{statistics.median(starts):.2f} s"),
    ]
    if mlflow:
        rows.append(
            (
                f"mlflow build-docker set (mlflow=={version('mlflow')} + reqs, {mlflow[1]} packages)",
                f"{mlflow[0] / 1e6:.0f} MB",
            )
        )
        rows.append(("  ours / MLflow's (target <= 0.6)", f"{env_layer / mlflow[0]:.2f}"))
    for name, value in rows:
        print(f"  {name:<78} {value:>9}")


if __name__ == "__main__":
    main()
