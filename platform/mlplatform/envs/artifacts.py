"""Build, pack, publish and find environment artifacts.

An artifact lives at ``<artifacts>/envs/<name>/<hash12>/`` and holds ``spec.yaml``,
``lock.txt``, ``env.tar.gz`` and ``manifest.json``. The manifest is written last
and marks the artifact as published: a folder without it is an unfinished build
and is never used. Same spec + lock -> same hash -> the published artifact is
returned without any pip work.

The manifest's ``interpreter`` says where the environment's Python comes from:
``"bundled"`` (builders ``portable`` and ``conda``: the archive carries it and runs on a
node with no Python) or ``"base"`` (``venv``: ``python.executable`` must exist at that
path wherever the archive is unpacked). Manifests written before the field existed say
the same through ``python.bundled``; :attr:`EnvArtifact.carries_interpreter` reads either.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform as _platform
import re
import socket
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlplatform import __version__, files, signing, storage
from mlplatform.config import Settings, load_settings
from mlplatform.envs import portable
from mlplatform.envs.conda import build_conda, pack_conda
from mlplatform.envs.interpreters import Interpreter, find_python
from mlplatform.envs.lock import EnvLock, lock
from mlplatform.envs.piptool import install_requirements, pip
from mlplatform.envs.spec import NAME_PATTERN, EnvSpec, load_spec
from mlplatform.errors import EnvError, SignatureError
from mlplatform.identity import current_actor

__all__ = [
    "EnvArtifact",
    "build",
    "resolve",
    "list_artifacts",
    "env_hash",
    "verify_archive",
    "verify_signature",
    "sign_published",
    "unpack",
    "ARCHIVE",
    "MANIFEST",
]

log = logging.getLogger(__name__)

ARCHIVE = "env.tar.gz"
MANIFEST = "manifest.json"
_UNPACKED_MARKER = ".mlp-env.json"
ARCHIVE_PYTHON = "./environment/bin/python"  # where an archive that carries its interpreter has it on executors


@dataclass(frozen=True)
class EnvArtifact:
    """A published environment.

    Attributes:
        id: ``env:<name>@<hash12>``.
        name: environment name.
        hash: first 12 hex digits of sha256(normalized spec + lock).
        uri: where the archive is (local path or ``hdfs://`` URI).
        manifest: the parsed ``manifest.json``.
        python_version: exact Python version of the environment.
        packages: pip package name -> version, from the lock.
    """

    id: str
    name: str
    hash: str
    uri: str
    manifest: dict[str, Any] = field(compare=False, repr=False)
    python_version: str = field(compare=False)
    packages: dict[str, str] = field(compare=False, repr=False)

    @property
    def folder(self) -> str:
        """URI of the artifact folder."""
        return self.uri.rsplit("/", 1)[0]

    @property
    def builder(self) -> str:
        return str(self.manifest["builder"])

    @property
    def sha256(self) -> str:
        return str(self.manifest["archive"]["sha256"])

    @property
    def carries_interpreter(self) -> bool:
        """True when the archive holds its own Python (portable, conda): it runs on a node without one."""
        return self.manifest.get("interpreter") == "bundled" or bool(self.manifest["python"].get("bundled"))

    @property
    def base_interpreter(self) -> str | None:
        """The Python the venv links to (None for conda, whose archive ships its interpreter)."""
        python = self.manifest["python"]
        return None if python.get("bundled") else python.get("executable")

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any], folder: str) -> "EnvArtifact":
        return cls(
            id=manifest["id"],
            name=manifest["name"],
            hash=manifest["hash"][:12],
            uri=storage.join(folder, manifest["archive"]["file"]),
            manifest=manifest,
            python_version=manifest["python"]["version"],
            packages=dict(manifest["packages"]),
        )


def env_hash(spec: EnvSpec, env_lock: EnvLock) -> str:
    """sha256 of the normalized spec and the lock content: the environment's identity."""
    payload = json.dumps({"spec": spec.normalized(), "lock": env_lock.content()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _folder(settings: Settings, name: str, hash12: str) -> str:
    return storage.join(settings.artifacts or "", "envs", name, hash12)


def _read_manifest(folder: str, settings: Settings) -> dict[str, Any] | None:
    uri = storage.join(folder, MANIFEST)
    if not storage.exists(uri, settings):
        return None
    with storage.open_read(uri, settings) as fh:
        return json.load(fh)


def _pip_check(python: str, name: str, provided: frozenset[str]) -> None:
    """``pip check``, ignoring requirements on ``provided`` packages."""
    out = pip(python, ["check"], f"checking environment '{name}'", check=False)
    problems = [
        line
        for line in out.stdout.splitlines()
        if line.strip() and not any(re.search(rf"\brequires {re.escape(p)}\b", line, re.I) for p in provided)
    ]
    if out.returncode != 0 and problems:
        raise EnvError(
            f"checking environment '{name}' (is the lock complete?): pip check: {'; '.join(problems[:5])}",
            "add the missing packages to the spec and lock again: mlp env lock NAME --refresh",
        )


def _base_python(env_lock: EnvLock) -> Interpreter:
    """The base interpreter of the lock's exact Python version."""
    try:
        return find_python(env_lock.python_version)
    except EnvError as exc:
        raise EnvError(
            f"{exc.message}; the lock of '{env_lock.name}' was made with it",
            f"re-lock for a Python found here: mlp env lock {env_lock.name} --refresh; or {exc.hint}",
        ) from exc


def _install_lock(python: str, env_lock: EnvLock, scratch: Path, provided: frozenset[str]) -> None:
    install_requirements(python, env_lock.requirements(), env_lock.name, scratch)
    _pip_check(python, env_lock.name, provided)


def _build_venv(env_lock: EnvLock, prefix: Path, provided: frozenset[str] = frozenset()) -> tuple[dict[str, Any], str]:
    """python -m venv (no pip inside) + pip install of exactly the lock + venv-pack metadata."""
    interpreter = _base_python(env_lock)
    subprocess.run(
        [interpreter.executable, "-m", "venv", "--without-pip", str(prefix)], check=True, capture_output=True
    )
    _install_lock(str(prefix / "bin" / "python"), env_lock, prefix.parent, provided)
    info = {
        "version": interpreter.version,
        "executable": interpreter.executable,
        "prefix": interpreter.prefix,
        "bundled": False,
    }
    return info, "venv-pack"


def _build_portable(env_lock: EnvLock, prefix: Path, provided: frozenset[str]) -> dict[str, Any]:
    """The base CPython copied into ``prefix``, the lock installed into it, made relocatable (:mod:`.portable`)."""
    interpreter = _base_python(env_lock)
    python = portable.copy_interpreter(interpreter, prefix, env_lock.name)
    _install_lock(str(python), env_lock, prefix.parent, provided)
    bundled = portable.make_relocatable(prefix, interpreter, env_lock.name)
    return {
        "version": interpreter.version,
        "executable": ARCHIVE_PYTHON,
        "copied_from": interpreter.executable,
        "bundled": True,
        "libraries": bundled,
    }


def _pack_venv(prefix: Path, output: Path) -> None:
    import venv_pack

    try:
        venv_pack.pack(prefix=str(prefix), output=str(output), format="tar.gz", compress_level=4, force=True)
    except venv_pack.VenvPackException as exc:
        raise EnvError(f"venv-pack cannot pack {prefix}: {exc}") from exc


def _tool_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _make(
    spec: EnvSpec, env_lock: EnvLock, digest: str, work: Path, provided: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Build and pack in ``work``; returns the manifest (without the archive URI)."""
    started = time.monotonic()
    prefix = work / "env"
    if spec.builder == "conda":
        build_conda(env_lock.name, spec.channels, env_lock.conda_pins, env_lock.requirements(), prefix)
        python = {"version": env_lock.python_version, "executable": ARCHIVE_PYTHON, "bundled": True}
        packer = "conda-pack"
        pack_conda(prefix, work / ARCHIVE)
    elif spec.builder == "portable":
        python, packer = _build_portable(env_lock, prefix, provided), "patchelf"
        portable.pack_portable(prefix, work / ARCHIVE)
    else:
        python, packer = _build_venv(env_lock, prefix, provided)
        _pack_venv(prefix, work / ARCHIVE)
    archive = work / ARCHIVE
    return {
        "id": f"env:{spec.name}@{digest[:12]}",
        "name": spec.name,
        "hash": digest,
        "builder": spec.builder,
        "interpreter": "bundled" if python["bundled"] else "base",
        "python": python,
        "platform": {"system": _platform.system(), "machine": _platform.machine()},
        "archive": {"file": ARCHIVE, "size": archive.stat().st_size, "sha256": files.sha256_file(archive)},
        "packages": env_lock.packages,
        "key_packages": sorted(spec.package_names() | {canonicalize_name(Requirement(r).name) for r in env_lock.added}),
        "conda_packages": list(env_lock.conda_pins),
        "added": list(env_lock.added),
        "spec_sha256": spec.digest(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "created_by": f"{current_actor()}@{socket.gethostname()}",
        "build_seconds": round(time.monotonic() - started, 1),
        "tools": {"mlplatform": __version__, packer: _tool_version(packer), "pip": _tool_version("pip")},
    }


_SIGNED = ("spec.yaml", "lock.txt", MANIFEST)  # and the archive, through the manifest's sha256


def _digests(manifest: dict[str, Any], read: Any) -> dict[str, str]:
    """What an environment's signature covers: its small files' sha256 and the archive's from the manifest."""
    digests = {name: hashlib.sha256(read(name)).hexdigest() for name in _SIGNED}
    return {**digests, ARCHIVE: str(manifest["archive"]["sha256"])}


def _publish(work: Path, manifest: dict[str, Any], folder: str, settings: Settings) -> None:
    """Upload the files (signed when ``signing_key`` is set), the manifest last; on failure remove what was uploaded."""
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    names = [ARCHIVE, "spec.yaml", "lock.txt", MANIFEST]
    if settings.signing_key:
        envelope = signing.sign(settings, manifest["id"], _digests(manifest, lambda name: (work / name).read_bytes()))
        (work / signing.SIGNATURE_FILE).write_bytes(envelope)
        names.insert(-1, signing.SIGNATURE_FILE)
    try:
        for name in names:
            storage.put(work / name, storage.join(folder, name), settings)
        storage.share(folder, settings)  # hdfs_group / hdfs_mode, on hdfs://
    except BaseException:
        storage.delete(folder, recursive=True, settings=settings)
        raise


def _cached(folder: str, settings: Settings) -> EnvArtifact | None:
    manifest = _read_manifest(folder, settings)
    if manifest is None:
        return None
    artifact = EnvArtifact.from_manifest(manifest, folder)
    if not storage.exists(artifact.uri, settings):
        log.warning("%s: archive %s is missing; building it again", artifact.id, artifact.uri)
        storage.delete(folder, recursive=True, settings=settings)
        return None
    return artifact


def build(name: str | Path, settings: Settings | None = None, refresh: bool = False) -> EnvArtifact:
    """Lock, build, pack and publish an environment; reuse the published one when the hash matches.

    Args:
        name: environment name (``envs/<name>.yaml``) or path to a spec file.
        settings: platform settings (default: :func:`load_settings`).
        refresh: resolve the lock again first (newest versions the spec allows).

    Raises:
        EnvError: invalid spec, Python not available, unresolvable packages, failed build.
            Nothing is published then.
    """
    return build_locked(load_spec(name), lock(name, refresh=refresh), settings or load_settings())


def build_locked(
    spec: EnvSpec, env_lock: EnvLock, settings: Settings, provided: frozenset[str] = frozenset()
) -> EnvArtifact:
    """Build, pack and publish ``spec`` at the exact versions of ``env_lock``, unless already published.

    ``provided``: packages the job's runtime supplies (``pyspark`` on a Spark driver), which
    ``pip check`` may report missing.
    """
    digest = env_hash(spec, env_lock)
    folder = _folder(settings, spec.name, digest[:12])
    found = _cached(folder, settings)
    if found is not None:
        log.info("%s is already built at %s", found.id, found.folder)
        return found
    # a per-machine lock, so two builds of the same environment do not race
    with files.flocked(Path(settings.home) / "locks" / f"env-{spec.name}-{digest[:12]}.lock"):
        found = _cached(folder, settings)
        if found is not None:
            return found
        builds = Path(settings.home) / "envs" / "build"
        builds.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"{spec.name}-{digest[:12]}-", dir=builds) as tmp:
            work = Path(tmp)
            log.info(
                "building env:%s@%s (%s, Python %s, %d packages)",
                spec.name,
                digest[:12],
                spec.builder,
                env_lock.python_version,
                len(env_lock.pins),
            )
            manifest = _make(spec, env_lock, digest, work, provided)
            (work / "spec.yaml").write_text(spec.to_yaml())
            (work / "lock.txt").write_text(env_lock.render())
            _publish(work, manifest, folder, settings)
    artifact = EnvArtifact.from_manifest(manifest, folder)
    log.info("published %s (%.0f MB) at %s", artifact.id, manifest["archive"]["size"] / 1e6, artifact.folder)
    return artifact


def _parse_ref(ref: str) -> tuple[str, str | None]:
    body = ref.removeprefix("env:")
    name, _, hash12 = body.partition("@")
    if not re.match(NAME_PATTERN, name) or (hash12 and not re.fullmatch(r"[0-9a-f]{12}", hash12)):
        raise EnvError(f"'{ref}' is not an environment reference", "use env:<name>@<hash12>, <name>@<hash12> or a name")
    return name, hash12 or None


def list_artifacts(settings: Settings | None = None, name: str | None = None) -> list[EnvArtifact]:
    """Published environments (of one name, or all), newest first."""
    settings = settings or load_settings()
    root = storage.join(settings.artifacts or "", "envs")
    names = [name] if name else storage.listdir(root, settings)
    found = []
    for env_name in names:
        for hash12 in storage.listdir(storage.join(root, env_name), settings):
            folder = storage.join(root, env_name, hash12)
            manifest = _read_manifest(folder, settings)
            if manifest is not None:
                found.append(EnvArtifact.from_manifest(manifest, folder))
    return sorted(found, key=lambda a: a.manifest["created_at"], reverse=True)


def resolve(ref: "str | EnvArtifact", settings: Settings | None = None) -> EnvArtifact:
    """The published environment for ``env:<name>@<hash12>``, ``<name>@<hash12>`` or a name (newest build).

    Raises:
        EnvError: when no such build is published.
    """
    if isinstance(ref, EnvArtifact):
        return ref
    settings = settings or load_settings()
    name, hash12 = _parse_ref(ref)
    if hash12:
        folder = _folder(settings, name, hash12)
        manifest = _read_manifest(folder, settings)
        if manifest is not None:
            return EnvArtifact.from_manifest(manifest, folder)
        known = ", ".join(a.id for a in list_artifacts(settings, name)) or "none"
        raise EnvError(
            f"environment env:{name}@{hash12} is not published under {settings.artifacts}",
            f"builds of '{name}': {known}; build it with: mlp env build {name}",
        )
    builds = list_artifacts(settings, name)
    if not builds:
        raise EnvError(
            f"environment '{name}' has no build under {settings.artifacts}", f"build it with: mlp env build {name}"
        )
    return builds[0]


def _read(artifact: EnvArtifact, name: str, settings: Settings) -> bytes:
    with storage.open_read(storage.join(artifact.folder, name), settings) as fh:
        return fh.read()


def verify_signature(artifact: EnvArtifact, settings: Settings | None = None) -> signing.Verified | None:
    """Check the environment's manifest, spec and lock (and so the archive's sha256) against its signature.

    Returns who signed it, None when verification is off (or failed under ``verify: warn``).

    Raises:
        SignatureError: (``verify: enforce``) unsigned, unknown key, or a file that differs from the signed one.
    """
    settings = settings or load_settings()
    if signing.verify_mode(settings) == "off":
        return None
    signature = storage.join(artifact.folder, signing.SIGNATURE_FILE)
    envelope = _read(artifact, signing.SIGNATURE_FILE, settings) if storage.exists(signature, settings) else None
    actual = _digests(artifact.manifest, lambda name: _read(artifact, name, settings))
    return signing.verify(settings, artifact.id, actual, envelope, artifact.folder)


def sign_published(artifact: EnvArtifact, settings: Settings | None = None) -> str:
    """Sign an environment published without a signature (or re-sign it) with ``signing_key``; returns the key id.

    Raises:
        ConfigError: no ``signing_key``, or it is not an Ed25519 private key.
    """
    settings = settings or load_settings()
    envelope = signing.sign(settings, artifact.id, _digests(artifact.manifest, lambda n: _read(artifact, n, settings)))
    with tempfile.TemporaryDirectory(prefix="mlp-sign-") as tmp:
        local = Path(tmp) / signing.SIGNATURE_FILE
        local.write_bytes(envelope)
        storage.put(local, storage.join(artifact.folder, signing.SIGNATURE_FILE), settings)
    return str(json.loads(envelope)["statement"]["key_id"])


def verify_archive(artifact: EnvArtifact, settings: Settings | None = None) -> signing.Verified | None:
    """Check the signature (see :func:`verify_signature`), then that the archive exists and matches the manifest.

    Returns who signed the environment, None when signatures are not checked.

    Local archives are hashed every time; a remote one is hashed once per machine
    (remembered under ``<home>/envs/verified``), since artifacts never change.

    Raises:
        EnvError: archive missing or corrupt.
        SignatureError: the signature does not verify, or the archive differs from the signed sha256.
    """
    settings = settings or load_settings()
    verified = verify_signature(artifact, settings)
    if not storage.exists(artifact.uri, settings):
        raise EnvError(
            f"the archive of {artifact.id} is missing at {artifact.uri}",
            f"rebuild it with: mlp env build {artifact.name}",
        )
    marker = Path(settings.home) / "envs" / "verified" / f"{artifact.name}-{artifact.hash}-{artifact.sha256[:16]}"
    remote = not storage.is_local(artifact.uri)
    if remote and marker.is_file():
        return verified
    with storage.open_read(artifact.uri, settings) as fh:
        actual = files.sha256_of(fh)
    if actual != artifact.sha256 and verified is not None:
        raise SignatureError(
            f"{artifact.id} {ARCHIVE}: sha256 {actual[:16]}... differs from {artifact.sha256[:16]}... "
            f"signed by key {verified.key_name} ({verified.key_id})",
            f"the archive was altered after it was signed: delete {artifact.folder} and rebuild it "
            f"with: mlp env build {artifact.name}",
        )
    if actual != artifact.sha256:
        raise EnvError(
            f"the archive of {artifact.id} at {artifact.uri} is corrupt: sha256 {actual[:16]}... "
            f"differs from the manifest's {artifact.sha256[:16]}...",
            f"delete {artifact.folder} and rebuild it with: mlp env build {artifact.name}",
        )
    if remote:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    return verified


def _extract(archive: Path, dest: Path) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        if hasattr(tarfile, "fully_trusted_filter"):
            # Checked against the manifest's sha256; venv links to an absolute base Python.
            tar.extractall(dest, filter="fully_trusted")
        else:  # pragma: no cover - Python < 3.10.12
            tar.extractall(dest)


def unpack(artifact: EnvArtifact, settings: Settings | None = None, dest: str | os.PathLike[str] | None = None) -> Path:
    """A local, unpacked copy of the archive (reused when already there); returns its folder.

    Default place: ``<home>/envs/local/<name>-<hash12>``. conda archives get
    ``conda-unpack`` run so their prefixes point at the new place.
    """
    settings = settings or load_settings()
    target = Path(dest) if dest else Path(settings.home) / "envs" / "local" / f"{artifact.name}-{artifact.hash}"
    marker = target / _UNPACKED_MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("sha256") == artifact.sha256:
        return target
    if target.exists():
        raise EnvError(
            f"{target} exists and is not an unpacked copy of {artifact.id}", "remove it or choose another folder"
        )
    verify_archive(artifact, settings)
    download = files.temp_sibling(target)  # the copy of a remote archive
    try:
        with files.replacing(target, folder=True) as partial:
            if storage.is_local(artifact.uri):
                archive = Path(storage.local_path(artifact.uri))
            else:
                archive = storage.get(artifact.uri, download, settings)
            _extract(archive, partial)
            if artifact.builder == "conda":
                subprocess.run(
                    [str(partial / "bin" / "python"), str(partial / "bin" / "conda-unpack")],
                    check=True,
                    capture_output=True,
                )
            (partial / _UNPACKED_MARKER).write_text(json.dumps({"id": artifact.id, "sha256": artifact.sha256}))
    finally:
        download.unlink(missing_ok=True)
    log.info("unpacked %s at %s", artifact.id, target)
    return target
