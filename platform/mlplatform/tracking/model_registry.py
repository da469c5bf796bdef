"""Registered models: references, resolution, the tags that link a version to its artifacts.

A model version is stored in MLflow format under the run artifact ``model/``:
``MLmodel`` (python_function + sklearn flavors, signature), ``model.pkl`` (the fitted
estimator, cloudpickled inside the model's environment), ``requirements.txt`` (the
environment lock) and ``input_example.json``. Batch and online scoring load
``model.pkl`` inside the model's environment without MLflow.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlplatform import signing
from mlplatform.config import Settings
from mlplatform.errors import ModelError
from mlplatform.tracking.store import configure

__all__ = [
    "ModelRef",
    "ModelVersionInfo",
    "parse_ref",
    "resolve",
    "download",
    "sign_version",
    "verify_dir",
    "input_schema",
    "MODEL_ARTIFACT",
    "MODEL_PICKLE",
    "TAG_ENV_ID",
    "TAG_TRAINING_SET",
    "TAG_FEATURE_SETS",
    "TAG_CODE_VERSION",
    "TAG_SPEC_HASH",
    "TAG_METRICS",
    "TAG_PRIMARY_METRIC",
    "TAG_DECISION",
    "TAG_DECISION_THRESHOLD",
    "ALIAS_CHAMPION",
    "ALIAS_CHALLENGER",
]

MODEL_ARTIFACT = "model"
MODEL_PICKLE = "model.pkl"

TAG_ENV_ID = "mlp.env_id"  # env:<name>@<hash12>
TAG_TRAINING_SET = "mlp.training_set"  # ts:<name>@v<n>
TAG_FEATURE_SETS = "mlp.feature_sets"  # JSON list of fs:<name>@v<n>
TAG_CODE_VERSION = "mlp.code_version"
TAG_SPEC_HASH = "mlp.spec_hash"
TAG_METRICS = "mlp.metrics"  # JSON: primary metric and thresholds the model was held to
TAG_PRIMARY_METRIC = "mlp.primary_metric"
TAG_DECISION = "mlp.decision"  # JSON: the decision threshold predict applies and how it was chosen
TAG_DECISION_THRESHOLD = "mlp.decision_threshold"  # the threshold alone, e.g. 0.1834

# what MLflow's download of models:/NAME/VERSION adds to every copy (name and version): not part of the artifact
_DOWNLOAD_META = frozenset({"registered_model_meta"})

ALIAS_CHAMPION = "champion"
ALIAS_CHALLENGER = "challenger"

_REF = re.compile(r"^(?:model:)?(?P<name>[A-Za-z0-9_.\-]+)(?:@(?P<sel>[A-Za-z0-9_.\-]+))?$")


@dataclass(frozen=True)
class ModelRef:
    """``model:<name>@<version or alias>``; no selector means the champion."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        return f"model:{self.name}@{self.version if self.version is not None else self.alias}"


@dataclass(frozen=True)
class ModelVersionInfo:
    """A resolved model version and its links."""

    name: str
    version: int
    run_id: str
    source: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"model:{self.name}@{self.version}"

    @property
    def env_id(self) -> str | None:
        return self.tags.get(TAG_ENV_ID)

    def json_tag(self, key: str) -> Any:
        raw = self.tags.get(key)
        return json.loads(raw) if raw else None


def parse_ref(text: str) -> ModelRef:
    """Parse ``[model:]NAME[@VERSION|@ALIAS]``."""
    match = _REF.match(text.strip())
    if not match:
        raise ModelError(f"'{text}' is not a model reference", "write NAME@VERSION or NAME@ALIAS, e.g. churn@champion")
    sel = match.group("sel") or ALIAS_CHAMPION
    if sel.isdigit():
        return ModelRef(match.group("name"), version=int(sel))
    return ModelRef(match.group("name"), alias=sel)


def resolve(ref: str | ModelRef, settings: Settings) -> ModelVersionInfo:
    """Look a reference up in the registry; a clear ModelError when it does not exist."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    ref = parse_ref(ref) if isinstance(ref, str) else ref
    configure(settings)
    client = MlflowClient()
    try:
        if ref.version is not None:
            mv = client.get_model_version(ref.name, str(ref.version))
        else:
            mv = client.get_model_version_by_alias(ref.name, ref.alias or ALIAS_CHAMPION)
    except MlflowException as exc:
        known = _versions_summary(client, ref.name)
        raise ModelError(f"{ref} does not exist in the registry at {settings.mlflow_tracking_uri}", known) from exc
    return ModelVersionInfo(
        name=mv.name,
        version=int(mv.version),
        run_id=mv.run_id or "",
        source=mv.source or "",
        tags=dict(mv.tags or {}),
        aliases=tuple(getattr(mv, "aliases", []) or []),
    )


def _versions_summary(client: Any, name: str) -> str:
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        versions = []
    if not versions:
        return f"no model named '{name}' is registered; train one with 'mlp train {name}'"
    # search results leave aliases out on some stores; the registered model has them all
    by_version: dict[str, list[str]] = {}
    try:
        for alias, version in (client.get_registered_model(name).aliases or {}).items():
            by_version.setdefault(str(version), []).append(alias)
    except MlflowException:
        pass
    parts = []
    for mv in sorted(versions, key=lambda v: int(v.version)):
        aliases = ",".join(sorted(set(getattr(mv, "aliases", []) or []) | set(by_version.get(str(mv.version), []))))
        parts.append(f"{mv.version}{f' ({aliases})' if aliases else ''}")
    return f"registered versions of '{name}': {', '.join(parts)}"


def download(info: ModelVersionInfo, dest: str | Path, settings: Settings) -> Path:
    """Copy the model's MLflow directory to ``dest``; return the local directory."""
    import mlflow

    configure(settings)
    Path(dest).mkdir(parents=True, exist_ok=True)
    local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{info.name}/{info.version}", dst_path=str(dest))
    return Path(local)


def verify_dir(info: ModelVersionInfo, model_dir: Path, settings: Settings) -> signing.Verified | None:
    """Check a downloaded model directory against its signature before anything loads it.

    Raises:
        SignatureError: (``verify: enforce``) unsigned, unknown key, or a file that differs from the signed one.
    """
    envelope = model_dir / signing.SIGNATURE_FILE
    return signing.verify(
        settings,
        info.id,
        signing.digests_of(model_dir, _DOWNLOAD_META),
        envelope.read_bytes() if envelope.is_file() else None,
        info.source or str(model_dir),
    )


def sign_version(info: ModelVersionInfo, settings: Settings) -> str:
    """Sign every file of the version's model directory with ``signing_key``; the signature is logged beside them.

    Returns the signer's key id.

    Raises:
        ConfigError: no ``signing_key``, or it is not an Ed25519 private key.
        ModelError: the version's model directory is not the run artifact ``model/`` the platform logs.
    """
    from mlflow import MlflowClient

    signing.require_key(settings)  # a missing or bad key is refused before the download
    if not info.run_id or not info.source.rstrip("/").endswith(f"/{MODEL_ARTIFACT}"):
        raise ModelError(
            f"{info.id} is not stored as the run artifact '{MODEL_ARTIFACT}/' ({info.source})",
            "register models through 'mlp train', which signs them",
        )
    with tempfile.TemporaryDirectory(prefix="mlp-sign-") as tmp:
        model_dir = download(info, Path(tmp) / "model", settings)
        envelope = signing.sign(settings, info.id, signing.digests_of(model_dir, _DOWNLOAD_META))
        path = Path(tmp) / signing.SIGNATURE_FILE
        path.write_bytes(envelope)
        MlflowClient().log_artifact(info.run_id, str(path), MODEL_ARTIFACT)
    return str(json.loads(envelope)["statement"]["key_id"])


def input_schema(model_dir: str | Path) -> list[dict[str, Any]]:
    """Input columns of the model signature in ``MLmodel``: [{"name", "type", "required"}...]."""
    import yaml

    mlmodel = yaml.safe_load((Path(model_dir) / "MLmodel").read_text())
    signature = mlmodel.get("signature") or {}
    if not signature.get("inputs"):
        raise ModelError(f"model at {model_dir} has no input signature", "log the model with a signature")
    return json.loads(signature["inputs"])
