"""Signed artifacts: Ed25519-signed models and environments, refused when altered, unsigned or signed by a stranger.

Real MLflow store, real registered models (the lifecycle toys), the real test environment
(envs/sklearn.yaml, cached under .mlp/test-cache), the real ``mlp`` command. Digests and
signatures are checked here independently of the platform with hashlib and cryptography.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import REPO, run_mlp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mlplatform import signing
from mlplatform.config import load_settings
from mlplatform.errors import EXIT_SIGNATURE, SignatureError
from mlplatform.tracking import model_registry

from .toys import fit

ENV_CACHE = REPO / ".mlp" / "test-cache" / "training-envs" / "home"  # shared with the training and benchmark tests
MLP_PYTHON = sys.executable


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A trusted key ``release`` (MLP_SIGNING_KEY and MLP_TRUSTED_KEYS set) and a ``rogue`` key nobody trusts."""
    folder = tmp_path / "keys"
    trust = folder / "trust.yaml"
    release_id = signing.generate(folder / "release.pem", "release", trust)
    rogue_id = signing.generate(folder / "rogue.pem", "rogue")
    monkeypatch.setenv("MLP_SIGNING_KEY", str(folder / "release.pem"))
    monkeypatch.setenv("MLP_TRUSTED_KEYS", str(trust))
    return {
        "release": folder / "release.pem",
        "rogue": folder / "rogue.pem",
        "trust": trust,
        "release_id": release_id,
        "rogue_id": rogue_id,
    }


def _store_dir(info: model_registry.ModelVersionInfo) -> Path:
    """The version's model directory in the MLflow artifact store (a local path here)."""
    return Path(info.source.removeprefix("file://"))


def _flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    where = len(data) // 2 if offset is None else offset
    data[where] ^= 0x01
    path.write_bytes(bytes(data))


def _one_line_refusal(done: Any, *needles: str, code: int = EXIT_SIGNATURE) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip() and " INFO " not in line]
    assert done.returncode == code, done.stderr
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def signed_model(keys, register, toy_data) -> Callable[..., model_registry.ModelVersionInfo]:
    """``signed_model(kind)``: register a toy model as churn@N and sign it with the release key."""
    train, _ = toy_data

    def make(kind: str = "good", tags: dict[str, str] | None = None) -> model_registry.ModelVersionInfo:
        settings = load_settings()
        version = register("churn", fit(kind, train), train, tags=tags)
        info = model_registry.resolve(f"churn@{version}", settings)
        model_registry.sign_version(info, settings)
        return info

    return make


def test_signature_covers_every_file_and_verifies_with_the_trusted_public_key(signed_model, keys, tmp_path):
    info = signed_model()
    folder = _store_dir(info)
    envelope = json.loads((folder / signing.SIGNATURE_FILE).read_text())
    statement = envelope["statement"]
    # independent reference: every file of the model directory, hashed here
    expected = {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file() and p.name != signing.SIGNATURE_FILE
    }
    assert {"model.pkl", "MLmodel", "requirements.txt"} <= set(expected)
    assert statement["files"] == expected and statement["subject"] == "model:churn@1"
    assert keys["release"].stat().st_mode & 0o777 == 0o600  # the private key is its owner's only
    public = serialization.load_pem_public_key(Path(f"{keys['release']}.pub").read_bytes())
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert statement["key_id"] == hashlib.sha256(raw).hexdigest()[:16] == keys["release_id"]
    canonical = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    public.verify(base64.b64decode(envelope["signature"]), canonical)  # raises if it does not verify

    done = run_mlp(["models", "verify", "churn@1"])
    assert done.returncode == 0, done.stderr
    assert f"model:churn@1 signed by key release ({statement['key_id']})" in done.stdout


def test_byte_flipped_in_model_pkl_is_refused_by_verify_score_serve_and_benchmark(signed_model, toy_data, tmp_path):
    from mlplatform.lifecycle.benchmark import evaluate, history

    info = signed_model()
    _flip_byte(_store_dir(info) / "model.pkl")
    needles = ("model:churn@1 model.pkl: sha256", "signed by key release")
    _one_line_refusal(run_mlp(["models", "verify", "churn@1"]), *needles)
    _one_line_refusal(run_mlp(["score", "churn@1", "--input", str(tmp_path / "none"), "--print"]), *needles)
    _one_line_refusal(run_mlp(["serve", "churn@1", "--python", MLP_PYTHON, "--print"]), *needles)
    _one_line_refusal(run_mlp(["export", "docker", "churn@1", "--out", str(tmp_path / "ctx")]), *needles)
    assert not (tmp_path / "ctx").exists()
    _, holdout = toy_data
    with pytest.raises(SignatureError, match="model:churn@1 model.pkl: sha256"):
        evaluate(info, holdout, "label", ["roc_auc"], load_settings(), tmp_path)
    assert not (tmp_path / "evaluation-1.json").exists() and history(load_settings(), model="churn") == []


def test_signed_model_scores_and_a_tampered_cached_copy_is_refused(signed_model, tmp_path, settings):
    """The batch driver verifies its cached download every time, not only when it downloads."""
    import pandas as pd
    from deltalake import write_deltalake

    from .toys import FEATURES

    signed_model()
    table = tmp_path / "input"
    write_deltalake(str(table), pd.DataFrame({f: [0.1, 0.2] for f in FEATURES}))
    done = run_mlp(["score", "churn@1", "--input", str(table), "--print"])
    assert done.returncode == 0 and "spark-submit" in done.stdout, done.stderr
    (cached,) = (Path(settings.home) / "cache" / "models" / "churn").glob("1-*/model/model.pkl")
    _flip_byte(cached)
    _one_line_refusal(run_mlp(["score", "churn@1", "--input", str(table), "--print"]), "model:churn@1 model.pkl")


def test_model_signed_by_an_unknown_key_is_refused(signed_model, keys, monkeypatch):
    info = signed_model()
    monkeypatch.setenv("MLP_SIGNING_KEY", str(keys["rogue"]))
    model_registry.sign_version(info, load_settings())
    line = _one_line_refusal(run_mlp(["models", "verify", "churn@1"]), f"signed by unknown key {keys['rogue_id']}")
    assert str(keys["trust"]) in line
    _one_line_refusal(run_mlp(["serve", "churn@1", "--python", MLP_PYTHON, "--print"]), "unknown key")


def test_unsigned_altered_statement_and_borrowed_signature_are_refused(keys, signed_model, register, toy_data):
    train, _ = toy_data
    first = signed_model()
    register("churn", fit("good", train), train)  # version 2, never signed
    settings = load_settings()
    second = model_registry.resolve("churn@2", settings)
    _one_line_refusal(
        run_mlp(["models", "verify", "churn@2"]), "model:churn@2 is not signed", "mlp models sign churn@2"
    )

    signature = _store_dir(first) / signing.SIGNATURE_FILE
    shutil.copyfile(signature, _store_dir(second) / signing.SIGNATURE_FILE)
    _one_line_refusal(run_mlp(["models", "verify", "churn@2"]), "signs model:churn@1, not model:churn@2")

    # alter the model and the statement's digest to match: the signature no longer verifies
    pickle = _store_dir(first) / "model.pkl"
    _flip_byte(pickle)
    envelope = json.loads(signature.read_text())
    envelope["statement"]["files"]["model.pkl"] = hashlib.sha256(pickle.read_bytes()).hexdigest()
    signature.write_text(json.dumps(envelope))
    _one_line_refusal(run_mlp(["models", "verify", "churn@1"]), "does not verify with key release")

    signature.write_text("{not json")
    _one_line_refusal(run_mlp(["models", "verify", "churn@1"]), "is not a signature file")


def test_an_added_file_is_refused(signed_model):
    info = signed_model()
    (_store_dir(info) / "sitecustomize.py").write_text("import os\n")
    _one_line_refusal(
        run_mlp(["models", "verify", "churn@1"]), "model:churn@1 sitecustomize.py: not in the files signed"
    )


def test_warn_logs_one_warning_and_loads_off_checks_nothing(signed_model, toy_data, tmp_path, monkeypatch, caplog):
    from sklearn.metrics import roc_auc_score

    from mlplatform.lifecycle.benchmark import evaluate

    from .toys import FEATURES

    train, holdout = toy_data
    info = signed_model()
    with (_store_dir(info) / "requirements.txt").open("a") as fh:
        fh.write("leftpad==1.0\n")
    monkeypatch.setenv("MLP_VERIFY", "warn")
    with caplog.at_level(logging.WARNING, logger="mlplatform.signing"):
        result = evaluate(info, holdout, "label", ["roc_auc"], load_settings(), tmp_path / "warn")
    warnings = [r for r in caplog.records if r.name == "mlplatform.signing"]
    assert len(warnings) == 1 and "model:churn@1 requirements.txt: sha256" in warnings[0].getMessage()
    assert "verify: warn" in warnings[0].getMessage()
    expected = roc_auc_score(holdout["label"], fit("good", train).predict_proba(holdout[FEATURES])[:, 1])
    assert result.metrics["roc_auc"] == pytest.approx(expected, abs=1e-12)

    caplog.clear()
    monkeypatch.setenv("MLP_VERIFY", "off")
    with caplog.at_level(logging.DEBUG, logger="mlplatform.signing"):
        assert model_registry.verify_dir(info, _store_dir(info), load_settings()) is None
    assert [r for r in caplog.records if r.name == "mlplatform.signing"] == []


@pytest.fixture
def signed_env(keys, settings) -> Any:
    """The test environment (built once, cached) copied into this test's artifact store and signed there."""
    from mlplatform import envs

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_HOME", str(ENV_CACHE))
        mp.delenv("MLP_SIGNING_KEY")
        mp.delenv("MLP_TRUSTED_KEYS")
        built = envs.build("sklearn", load_settings())
    target = Path(settings.artifacts or "") / "envs" / built.name / built.hash
    shutil.copytree(built.folder, target)
    ours = load_settings()
    artifact = envs.resolve(built.id, ours)
    envs.sign_published(artifact, ours)
    yield artifact
    shutil.rmtree(target, ignore_errors=True)  # 160 MB


def test_signed_env_verifies_and_covers_the_archive_through_the_manifest(signed_env):
    from mlplatform import envs

    envelope = json.loads((Path(signed_env.folder) / signing.SIGNATURE_FILE).read_text())
    files = envelope["statement"]["files"]
    folder = Path(signed_env.folder)
    for name in ("manifest.json", "spec.yaml", "lock.txt"):
        assert files[name] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    assert files["env.tar.gz"] == hashlib.sha256((folder / "env.tar.gz").read_bytes()).hexdigest()
    verified = envs.verify_archive(signed_env, load_settings())
    assert verified is not None and verified.key_name == "release" and verified.subject == signed_env.id
    done = run_mlp(["env", "verify", signed_env.id])
    assert done.returncode == 0 and f"verified: {signed_env.id} signed by key release" in done.stdout, done.stderr


def test_byte_flipped_in_env_archive_is_refused_by_score_serve_and_benchmark(
    signed_env, signed_model, toy_data, tmp_path
):
    import pandas as pd
    from deltalake import write_deltalake

    from mlplatform.lifecycle.benchmark import evaluate
    from mlplatform.tracking.model_registry import TAG_ENV_ID

    from .toys import FEATURES

    info = signed_model(tags={TAG_ENV_ID: signed_env.id})
    _flip_byte(Path(signed_env.folder) / "env.tar.gz")
    needles = (f"{signed_env.id} env.tar.gz: sha256", "signed by key release")
    _one_line_refusal(run_mlp(["env", "verify", signed_env.id]), *needles)
    table = tmp_path / "input"
    write_deltalake(str(table), pd.DataFrame({f: [0.1, 0.2] for f in FEATURES}))
    _one_line_refusal(run_mlp(["score", "churn@1", "--input", str(table), "--print"]), *needles)
    _one_line_refusal(run_mlp(["serve", "churn@1", "--python", MLP_PYTHON, "--print"]), *needles)
    _, holdout = toy_data
    with pytest.raises(SignatureError, match="env.tar.gz: sha256"):
        evaluate(info, holdout, "label", ["roc_auc"], load_settings(), tmp_path / "bench")


def test_edited_manifest_or_env_signed_by_a_stranger_is_refused(signed_env, keys, monkeypatch):
    from mlplatform import envs

    manifest = Path(signed_env.folder) / "manifest.json"
    original = manifest.read_text()
    data = json.loads(original)
    data["packages"]["scikit-learn"] = "0.0.1"
    manifest.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    _one_line_refusal(run_mlp(["env", "verify", signed_env.id]), f"{signed_env.id} manifest.json: sha256", "release")

    manifest.write_text(original)
    monkeypatch.setenv("MLP_SIGNING_KEY", str(keys["rogue"]))
    envs.sign_published(signed_env, load_settings())
    _one_line_refusal(run_mlp(["env", "verify", signed_env.id]), f"{signed_env.id} is signed by unknown key")


def test_training_signs_the_version_it_registers_and_a_bad_key_stops_it_first(spark, keys, toy_data, monkeypatch):
    from mlflow import MlflowClient

    from mlplatform.errors import ConfigError
    from mlplatform.training.spec import load_spec
    from mlplatform.training.train import TrainingData, train

    from .toys import FEATURES

    frame, _ = toy_data
    spec = load_spec(
        data={
            "name": "toy",
            "training_set": {"name": "toy"},
            "label": "label",
            "estimator": "sklearn.tree.DecisionTreeClassifier",
            "params": {"random_state": 0, "max_depth": 3},
            "search": {"strategy": "grid", "space": {"min_samples_leaf": [1, 10]}},
            "cv": {"folds": 2, "seed": 0},
            "metrics": {"primary": "roc_auc", "thresholds": ["roc_auc >= 0.6"]},
        }
    )
    data = TrainingData(frame[[*FEATURES, "label"]], "ts:toy@v1", ())
    settings = load_settings()
    result = train(spec, settings=settings, spark=spark, data=data, code_version="git:abc123")
    info = model_registry.resolve(f"toy@{result.version}", settings)
    verified = model_registry.verify_dir(info, _store_dir(info), settings)
    assert verified is not None and verified.key_name == "release" and verified.subject == "model:toy@1"

    keys["release"].write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match=f"signing_key {keys['release']} is not an unencrypted PEM private key"):
        train(spec, settings=load_settings(), spark=spark, data=data, code_version="git:abc123")
    assert [int(v.version) for v in MlflowClient().search_model_versions("name='toy'")] == [1]


def _rsa_pem(path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


@pytest.mark.parametrize(
    "case, needle",
    [
        ("missing key", "signing_key {tmp}/absent.pem does not exist"),
        ("unreadable key", "signing_key {tmp}/garbage.pem is not an unencrypted PEM private key"),
        ("rsa key", "signing_key {tmp}/rsa.pem is a RSAPrivateKey, not an Ed25519 key"),
        ("no key", "no signing_key is set: nothing can sign"),
        ("missing trust file", "trusted_keys file {tmp}/absent.yaml does not exist"),
        ("trust file without keys", "trust file {tmp}/trust.yaml has no 'keys' mapping"),
        ("trust file with a bad key", "trust file {tmp}/trust.yaml: key 'ops' is not a PEM public key"),
        ("trust file not yaml", "trust file {tmp}/trust.yaml is not valid YAML"),
        ("enforce without trust file", "verify is 'enforce' but no trusted_keys file is set"),
        ("unknown mode", "'verify': Input should be 'enforce', 'warn' or 'off'"),
        ("key path taken", "{tmp}/garbage.pem exists"),
        ("key name taken", "trust file {tmp}/trust.yaml already has a key 'ops'"),
    ],
)
def test_every_bad_signing_config_is_one_line(case: str, needle: str, tmp_path: Path, register, toy_data):
    (tmp_path / "garbage.pem").write_text("not a key\n")
    _rsa_pem(tmp_path / "rsa.pem")
    trust = tmp_path / "trust.yaml"
    setups: dict[str, tuple[list[str], dict[str, str]]] = {
        "missing key": (["models", "sign", "churn@1"], {"MLP_SIGNING_KEY": str(tmp_path / "absent.pem")}),
        "unreadable key": (["models", "sign", "churn@1"], {"MLP_SIGNING_KEY": str(tmp_path / "garbage.pem")}),
        "rsa key": (["env", "sign", "sklearn"], {"MLP_SIGNING_KEY": str(tmp_path / "rsa.pem")}),
        "no key": (["models", "sign", "churn@1"], {}),
        "missing trust file": (["models", "verify", "churn@1"], {"MLP_TRUSTED_KEYS": str(tmp_path / "absent.yaml")}),
        "trust file without keys": (["env", "verify", "sklearn"], {"MLP_TRUSTED_KEYS": str(trust)}),
        "trust file with a bad key": (["models", "verify", "churn@1"], {"MLP_TRUSTED_KEYS": str(trust)}),
        "trust file not yaml": (["models", "verify", "churn@1"], {"MLP_TRUSTED_KEYS": str(trust)}),
        "enforce without trust file": (["score", "churn@1", "--input", "x", "--print"], {"MLP_VERIFY": "enforce"}),
        "unknown mode": (["models", "verify", "churn@1"], {"MLP_VERIFY": "always"}),
        "key path taken": (["keys", "generate", str(tmp_path / "garbage.pem"), "--name", "ops"], {}),
        "key name taken": (["keys", "generate", str(tmp_path / "new.pem"), "--name", "ops", "--trust", str(trust)], {}),
    }
    trust.write_text(
        {
            "trust file without keys": "owner: ops\n",
            "trust file with a bad key": "keys:\n  ops: not-a-pem\n",
            "trust file not yaml": "keys: [unclosed\n",
        }.get(case, "")
    )
    if case == "key name taken":
        signing.generate(tmp_path / "ops.pem", "ops", trust)
    args, env = setups[case]
    if case == "enforce without trust file":  # refused where it matters: before a registered model is loaded
        train, _ = toy_data
        register("churn", fit("good", train), train)
    done = run_mlp(args, env=env)
    _one_line_refusal(done, needle.format(tmp=tmp_path), code=1)


def test_publishing_with_a_signing_key_signs_the_environment(keys, settings, tmp_path):
    """The publish step of ``mlp env build`` on the files of a real build (a fresh build takes minutes)."""
    from mlplatform import envs
    from mlplatform.envs.artifacts import _publish

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_HOME", str(ENV_CACHE))
        mp.delenv("MLP_SIGNING_KEY")
        mp.delenv("MLP_TRUSTED_KEYS")
        built = envs.build("sklearn", load_settings())
    work = tmp_path / "work"
    work.mkdir()
    for name in ("env.tar.gz", "spec.yaml", "lock.txt"):
        shutil.copyfile(Path(built.folder) / name, work / name)
    folder = Path(settings.artifacts or "") / "envs" / built.name / built.hash
    try:
        _publish(work, dict(built.manifest), str(folder), load_settings())
        published = envs.resolve(built.id, load_settings())
        verified = envs.verify_archive(published, load_settings())
        assert verified is not None and verified.key_id == keys["release_id"] and verified.subject == built.id
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)  # 160 MB each
