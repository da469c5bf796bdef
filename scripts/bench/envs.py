"""Benchmark: environment build + pack, ours against doing it by hand.

    .venv/bin/python scripts/bench/envs.py            # envs/sklearn.yaml
    .venv/bin/python scripts/bench/envs.py --quick    # a smaller spec (no scikit-learn/scipy)

Compared, in the same run, on the same machine, with the same pip cache (warmed
first by downloading the locked wheels, so no side pays for the network):

- by hand: ``python3.11 -m venv`` + ``pip install <spec packages>`` + ``venv-pack``
  (its default output: tar.gz, compression level 4)
- ``mlp env build`` of the spec with ``builder: venv`` (venv-pack's archive), cold,
  with the lock already written (the usual case: the lock is committed beside the
  spec), and cold including resolving the lock
- ``mlp env build`` warm (same spec + lock: the published artifact is reused),
  as a whole CLI process and as the library call
- the same spec with ``builder: portable`` (the default: the archive carries its
  CPython), cold with the lock present and warm, against the venv builder's rows

Targets (issue 3): cold within 10% of by hand, warm under 2 s, archive no
larger than venv-pack's default output. Issue 19: the portable archive at most
1.3x the venv-pack one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
MLP = str(Path(PY).with_name("mlp"))

QUICK_SPEC = """\
name: benchquick
python: "3.11"
packages: [cloudpickle, numpy, "pandas<3", pyarrow]
"""


def _run(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, **(env or {})}, cwd=REPO)
    return time.perf_counter() - started


def _spec_packages(spec: Path) -> list[str]:
    sys.path.insert(0, str(REPO / "platform"))
    from mlplatform.envs.spec import load_spec, missing_arrow_packages

    loaded = load_spec(spec)
    return list(loaded.packages) + [str(r) for r in missing_arrow_packages(loaded)]


def _base_python() -> str:
    from mlplatform.envs.interpreters import find_python

    return find_python("3.11").executable


def by_hand(work: Path, packages: list[str]) -> tuple[float, int]:
    venv, out = work / "venv", work / "by-hand.tar.gz"
    started = time.perf_counter()
    subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True, capture_output=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *packages],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [str(Path(PY).with_name("venv-pack")), "-p", str(venv), "-o", str(out)], check=True, capture_output=True
    )
    return time.perf_counter() - started, out.stat().st_size


def ours_cold(work: Path, spec: Path, with_lock: bool) -> tuple[float, int, Path]:
    specs = work / "specs"
    specs.mkdir()
    shutil.copy(spec, specs / spec.name)
    lock = spec.with_name(f"{spec.stem}.lock.txt")
    if with_lock:
        shutil.copy(lock, specs / lock.name)
    home = work / "home"
    seconds = _run([MLP, "env", "build", str(specs / spec.name)], {"MLP_HOME": str(home), "MLP_PROJECT": str(REPO)})
    archive = next((home / "artifacts" / "envs").rglob("env.tar.gz"))
    return seconds, archive.stat().st_size, home


def with_builder(spec: Path, folder: Path, builder: str) -> Path:
    """The same spec with ``builder: BUILDER``, locked beside it (same pins: the lock resolves the same way)."""
    folder.mkdir()
    lines = [line for line in spec.read_text().splitlines() if not line.startswith("builder:")]
    target = folder / spec.name
    target.write_text("\n".join([*lines, f"builder: {builder}"]) + "\n")
    _run([MLP, "env", "lock", str(target)], {"MLP_PROJECT": str(REPO)})
    return target


def ours_warm(spec: Path, home: Path) -> tuple[float, float]:
    env = {"MLP_HOME": str(home), "MLP_PROJECT": str(REPO)}
    cli = _run([MLP, "env", "build", str(spec)], env)
    code = (
        "import time; from mlplatform import envs; t = time.perf_counter(); "
        f"envs.build({str(spec)!r}); print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [PY, "-c", code], check=True, capture_output=True, text=True, env={**os.environ, **env}, cwd=REPO
    )
    return cli, float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller spec: cloudpickle, numpy, pandas, pyarrow")
    parser.add_argument("--repeat", type=int, default=1, help="cold runs of each method (default 1)")
    benchlib.add_arguments(parser, __file__)
    args = parser.parse_args()
    watch = benchlib.LoadWatch.from_args(args).start()

    root = Path(tempfile.mkdtemp(prefix="mlp-bench-envs-"))
    try:
        if args.quick:
            source = root / "benchquick.yaml"
            source.write_text(QUICK_SPEC)
        else:
            source = REPO / "envs" / "sklearn.yaml"
        # One spec per builder, each locked beside it; pip's cache is warmed with the venv lock's wheels.
        spec = with_builder(source, root / "venv-spec", "venv")
        portable = with_builder(source, root / "portable-spec", "portable")
        lock = spec.with_name(f"{spec.stem}.lock.txt")
        pins = [line for line in lock.read_text().splitlines() if line and not line.startswith("#")]
        _run([PY, "-m", "pip", "download", "-q", "--no-deps", "-d", str(root / "wheels"), *pins])
        packages = _spec_packages(spec)

        rows: dict[str, list[float]] = {
            "by hand (venv + pip + venv-pack)": [],
            "venv: env build, cold, lock present": [],
            "venv: env build, cold, resolving the lock": [],
            "portable: env build, cold, lock present": [],
        }
        sizes: dict[str, int] = {}
        warm_home = portable_home = None
        for i in range(args.repeat):
            work = root / f"hand-{i}"
            work.mkdir()
            seconds, sizes["by hand"] = by_hand(work, packages)
            rows["by hand (venv + pip + venv-pack)"].append(seconds)
            shutil.rmtree(work)
            work = root / f"ours-{i}"
            work.mkdir()
            seconds, sizes["mlp env build"], warm_home = ours_cold(work, spec, with_lock=True)
            rows["venv: env build, cold, lock present"].append(seconds)
            work = root / f"ours-resolve-{i}"
            work.mkdir()
            seconds, _, _ = ours_cold(work, spec, with_lock=False)
            rows["venv: env build, cold, resolving the lock"].append(seconds)
            shutil.rmtree(work)
            work = root / f"portable-{i}"
            work.mkdir()
            seconds, sizes["portable"], portable_home = ours_cold(work, portable, with_lock=True)
            rows["portable: env build, cold, lock present"].append(seconds)
        assert warm_home is not None and portable_home is not None
        warm_cli, warm_call = ours_warm(root / f"ours-{args.repeat - 1}" / "specs" / spec.name, warm_home)
        portable_cli, portable_call = ours_warm(
            root / f"portable-{args.repeat - 1}" / "specs" / spec.name, portable_home
        )

        watch.stop()
        hand = statistics.median(rows["by hand (venv + pip + venv-pack)"])
        hw = benchlib.hardware(("pip", "venv-pack"))
        print(f"\nEnvironment build + pack: {spec.stem} ({len(pins)} locked packages)")
        print(f"hardware: {benchlib.hardware_line(hw)}; pip cache warm for both; median of {args.repeat} cold run(s)\n")
        print(f"| {'method':<42} | {'seconds':>8} | {'vs by hand':>10} |")
        print(f"|{'-' * 44}|{'-' * 10}|{'-' * 12}|")
        medians = {name: statistics.median(values) for name, values in rows.items()}
        vs_hand = {name: watch.ratio(median, hand) for name, median in medians.items()}
        for name, median in medians.items():
            print(f"| {name:<42} | {median:8.1f} | {watch.cell(vs_hand[name]):>10} |")
        print(f"| {'venv: mlp env build, warm (CLI)':<42} | {warm_cli:8.2f} | {'':>10} |")
        print(f"| {'venv: envs.build(), warm (library)':<42} | {warm_call:8.3f} | {'':>10} |")
        print(f"| {'portable: mlp env build, warm (CLI)':<42} | {portable_cli:8.2f} | {'':>10} |")
        print(f"| {'portable: envs.build(), warm (library)':<42} | {portable_call:8.3f} | {'':>10} |")
        print(
            f"\narchive size: by hand {sizes['by hand'] / 1e6:.1f} MB, "
            f"venv builder {sizes['mlp env build'] / 1e6:.1f} MB "
            f"({sizes['mlp env build'] / sizes['by hand']:.2f}x; ours has no pip/setuptools inside), "
            f"portable {sizes['portable'] / 1e6:.1f} MB ({sizes['portable'] / sizes['mlp env build']:.2f}x "
            "the venv builder's; it carries CPython, its stdlib and bundled libraries)"
        )
        print(watch.summary())
        warm = {
            "cli_s": warm_cli,
            "call_s": warm_call,
            "portable_cli_s": portable_cli,
            "portable_call_s": portable_call,
        }
        benchlib.write_json(
            args.json,
            {
                "spec": spec.stem,
                "locked_packages": len(pins),
                "repeat": args.repeat,
                "cold_s": rows,
                "cold_median_s": medians,
                "cold_vs_by_hand": vs_hand,
                "warm": warm,
                "archive_bytes": sizes,  # sizes do not depend on the load: their ratios are not guarded
            },
            watch,
            hw,
        )
        print(f"figures written to {args.json}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
