"""Benchmark: signing and verifying a model directory, ours against OpenSSF model-signing.

    .venv/bin/python scripts/bench/signing.py [--repeat N] [--rows N]

The model: the demo's kind of classifier (HistGradientBoosting, 100 iterations, 10
features, fitted on --rows rows) saved as ``mlflow.sklearn.save_model`` writes it
(cloudpickle ``model.pkl``, MLmodel, requirement files, input example): the directory
``mlp score``, the retrain benchmark and the scoring server verify before loading.

Same directory, same run, each timed --repeat times after one untimed call (median):
- ours: ``signing.digests_of`` + ``signing.sign`` (Ed25519 over a statement of every
  file's sha256), and ``digests_of`` + ``signing.verify`` with ``verify: enforce`` and
  a trust file (what the jobs run);
- ``model_signing`` (OpenSSF, key-based: ``use_elliptic_key_signer`` /
  ``use_elliptic_key_verifier``, ECDSA P-256, its default file hashing);
- the floor: the sha256 of every file (``hashlib``), no signature.

A verification that passes is checked, and so is one that fails: a byte flipped in
``model.pkl`` must be refused by both. ``model_signing`` comes with ``pip install -e .[bench]``.

Target (issue 21): verification of the demo model < 50 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import benchlib

REPO = Path(__file__).resolve().parents[2]
TARGET_MS = 50.0


def _model_dir(root: Path, rows: int) -> Path:
    import numpy as np
    import pandas as pd
    from mlflow.sklearn import save_model
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 10)), columns=[f"f{i}" for i in range(10)])
    label = (frame["f0"] + frame["f1"] * frame["f2"] > 0).astype(int)
    model = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0).fit(frame, label)
    path = root / "model"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_model(model, str(path), serialization_format="cloudpickle", input_example=frame.head(3))
    return path


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took)


def _flipped(path: Path) -> Callable[[], None]:
    """Flip one byte of ``path`` in place; the returned callable flips it back."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    def restore() -> None:
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))

    return restore


def _ours(model: Path, keys: Path) -> dict[str, Any]:
    from mlplatform import signing
    from mlplatform.config import load_settings
    from mlplatform.errors import SignatureError

    trust = keys / "trust.yaml"
    signing.generate(keys / "release.pem", "release", trust)
    os.environ.update({"MLP_SIGNING_KEY": str(keys / "release.pem"), "MLP_TRUSTED_KEYS": str(trust)})
    settings = load_settings()
    subject = "model:bench@1"
    envelope_path = model / signing.SIGNATURE_FILE

    def sign() -> None:
        envelope_path.write_bytes(signing.sign(settings, subject, signing.digests_of(model)))

    def verify() -> Any:
        return signing.verify(settings, subject, signing.digests_of(model), envelope_path.read_bytes(), str(model))

    out: dict[str, Any] = {"sign": sign, "verify": verify}
    sign()
    out["passes"] = verify() is not None
    restore = _flipped(model / "model.pkl")
    try:
        verify()
        out["refuses_a_flipped_byte"] = False
    except SignatureError:
        out["refuses_a_flipped_byte"] = True
    finally:
        restore()
    return out


def _model_signing(model: Path, keys: Path) -> dict[str, Any] | str:
    try:
        from model_signing import signing as ms_signing
        from model_signing import verifying as ms_verifying
    except ImportError as exc:
        return f"not installed ({exc.name}); pip install -e .[bench]"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    private_pem, public_pem = keys / "ec.pem", keys / "ec.pub"
    private_pem.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public_pem.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signature = keys / "model.sig"
    ignored = [model / "mlp-signature.json"]  # ours, beside the files: not part of what model-signing signs

    def sign() -> None:
        config = ms_signing.Config().use_elliptic_key_signer(private_key=private_pem)
        config.set_hashing_config(_hashing(ignored))
        config.sign(model, signature)

    def verify() -> None:
        config = ms_verifying.Config().use_elliptic_key_verifier(public_key=public_pem)
        config.set_hashing_config(_hashing(ignored))
        config.verify(model, signature)

    out: dict[str, Any] = {"sign": sign, "verify": verify}
    sign()
    verify()
    out["passes"] = True
    restore = _flipped(model / "model.pkl")
    try:
        verify()
        out["refuses_a_flipped_byte"] = False
    except Exception:  # noqa: BLE001 - model-signing raises ValueError for a mismatch
        out["refuses_a_flipped_byte"] = True
    finally:
        restore()
    return out


def _hashing(ignored: list[Path]) -> Any:
    from model_signing import hashing

    return hashing.Config().set_ignored_paths(paths=ignored)


def _floor(model: Path) -> Callable[[], None]:
    def digest() -> None:
        for path in sorted(model.rglob("*")):
            if path.is_file():
                hashlib.sha256(path.read_bytes()).hexdigest()

    return digest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=50, help="timed calls of each (median)")
    parser.add_argument("--rows", type=int, default=20_000, help="training rows of the model")
    benchlib.add_arguments(parser, __file__)
    args = parser.parse_args()
    watch = benchlib.LoadWatch.from_args(args).start()
    root = Path(tempfile.mkdtemp(prefix="mlp-bench-signing-"))
    os.environ.update({"MLP_HOME": str(root / ".mlp"), "MLP_PROJECT": str(REPO)})
    hw = benchlib.hardware(("cryptography", "model-signing", "mlflow", "scikit-learn"))
    print(f"{benchlib.hardware_line(hw)}; load average at start {watch.max_load:.1f}", flush=True)
    model = _model_dir(root, args.rows)
    sizes = {p.relative_to(model).as_posix(): p.stat().st_size for p in model.rglob("*") if p.is_file()}
    keys = root / "keys"
    keys.mkdir()
    ours = _ours(model, keys)
    theirs = _model_signing(model, keys)
    figures: dict[str, dict[str, Any]] = {"ours (Ed25519 statement)": ours}
    if isinstance(theirs, dict):
        figures["OpenSSF model_signing (ECDSA P-256)"] = theirs
    timings = {name: {op: _median_ms(f[op], args.repeat) for op in ("sign", "verify")} for name, f in figures.items()}
    floor_ms = _median_ms(_floor(model), args.repeat)
    watch.stop()

    print()
    print(
        f"model directory: {len(sizes)} files, {sum(sizes.values()) / 1e6:.2f} MB "
        f"(model.pkl {sizes['model.pkl'] / 1e6:.2f} MB)"
    )
    print(f"{'':<40} {'sign ms':>8} {'verify ms':>10}  passes  refuses a flipped byte")
    for name, took in timings.items():
        f = figures[name]
        print(
            f"{name:<40} {took['sign']:>8.1f} {took['verify']:>10.1f}  {str(f['passes']):>6}  "
            f"{f['refuses_a_flipped_byte']}"
        )
    print(f"{'floor: sha256 of every file (hashlib)':<40} {'-':>8} {floor_ms:>10.1f}")
    if isinstance(theirs, str):
        print(f"OpenSSF model_signing left out: {theirs}")
    ours_verify = timings["ours (Ed25519 statement)"]["verify"]
    ratios = {
        name: watch.ratio(took["verify"], ours_verify) for name, took in timings.items() if not name.startswith("ours")
    }
    for name, ratio in ratios.items():
        print(f"verify, {name} / ours = {watch.cell(ratio)}")
    print(
        f"ours: verify {ours_verify:.1f} ms (target < {TARGET_MS:.0f} ms): "
        + ("met" if ours_verify < TARGET_MS else "NOT met")
    )
    print(watch.summary())
    benchlib.write_json(
        args.json,
        {
            "files": sizes,
            "repeat": args.repeat,
            "median_ms": timings,
            "floor_sha256_ms": floor_ms,
            "checks": {n: {k: f[k] for k in ("passes", "refuses_a_flipped_byte")} for n, f in figures.items()},
            "verify_vs_ours": ratios,
            "model_signing": None if isinstance(theirs, dict) else theirs,
        },
        watch,
        hw,
    )
    print(f"figures written to {args.json}")
    return 0 if all(f["passes"] and f["refuses_a_flipped_byte"] for f in figures.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
