"""A minimal Debian root filesystem made with ``debootstrap``, from this machine's apt sources.

``debian_root("/tmp/root")`` makes a ``minbase`` bookworm root without Python (the bare
node of a portable environment's proof); ``debian_root(dest, packages=("python3",))``
adds packages. With ``cache=DIR`` the finished root is kept as a tarball in ``DIR``, keyed
by suite, mirror and packages, and later calls unpack it instead of running debootstrap
(83 s measured here, against a few seconds to unpack). :func:`root_tarball` gives that
tarball alone (``docker import`` reads it).

Needs root (debootstrap and tar keep owners and device nodes) and the ``debootstrap``
package (``scripts/docker-engine start`` installs it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from mlplatform.errors import EnvError
from mlplatform.files import flocked, replacing

__all__ = ["debian_root", "root_tarball", "host_mirror", "DEFAULT_SUITE", "DEFAULT_MIRROR"]

log = logging.getLogger(__name__)

DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
_SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))


def host_mirror(suite: str = DEFAULT_SUITE, sources: Sequence[Path] = _SOURCES) -> str:
    """The first Debian mirror this machine's apt sources use for ``suite`` (deb822 or one-line form)."""
    for path in sources:
        if not path.is_file():
            continue
        text = path.read_text()
        for stanza in re.split(r"\n\s*\n", text):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
            if "deb" in fields.get("Types", "").split() and suite in fields.get("Suites", "").split():
                return fields["URIs"].split()[0]
        for match in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", text, re.M):
            if match.group(2) == suite:
                return match.group(1)
    return DEFAULT_MIRROR


def _require_tools() -> None:
    if os.geteuid() != 0:
        raise EnvError("making a Debian root needs root (debootstrap keeps owners and device nodes)", "run as root")
    if shutil.which("debootstrap") is None:
        raise EnvError(
            "debootstrap is not installed, so no Debian root can be made",
            "install it: scripts/docker-engine start (or apt-get install debootstrap)",
        )


def _debootstrap(dest: Path, packages: Sequence[str], suite: str, mirror: str) -> None:
    argv = ["debootstrap", "--variant=minbase"]
    if packages:
        argv.append(f"--include={','.join(packages)}")
    argv += [suite, str(dest), mirror]
    log.info(
        "debootstrap %s from %s with %s (about a minute and a half)",
        suite,
        mirror,
        ", ".join(packages) or "no extra packages",
    )
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        lines = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()
        raise EnvError(
            f"debootstrap of {suite} from {mirror} failed: {lines[-1]}",
            "check that the mirror is reachable and the package names exist (apt-cache policy NAME)",
        )
    shutil.rmtree(dest / "var" / "cache" / "apt" / "archives", ignore_errors=True)
    (dest / "var" / "cache" / "apt" / "archives" / "partial").mkdir(parents=True, exist_ok=True)


def _tar(argv: Sequence[str], what: str) -> None:
    result = subprocess.run(["tar", "--numeric-owner", *argv], capture_output=True, text=True)
    if result.returncode != 0:
        raise EnvError(f"tar could not {what}: {result.stderr.strip()[-300:]}", "check free space and permissions")


def _cache_name(packages: Sequence[str], suite: str, mirror: str) -> str:
    key = hashlib.sha256("\0".join([suite, mirror, *sorted(packages)]).encode()).hexdigest()[:12]
    return f"{suite}-minbase-{key}.tar"


def root_tarball(
    cache: str | os.PathLike[str],
    packages: Sequence[str] = (),
    suite: str = DEFAULT_SUITE,
    mirror: str | None = None,
) -> Path:
    """The cached tarball of a minbase root with ``packages`` under ``cache``, made once.

    Raises:
        EnvError: not root, debootstrap missing or failing.
    """
    mirror = mirror or host_mirror(suite)
    tarball = Path(cache) / _cache_name(packages, suite, mirror)
    if tarball.is_file():
        return tarball
    _require_tools()
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with flocked(tarball.with_suffix(".lock")):
        if tarball.is_file():
            return tarball
        with tempfile.TemporaryDirectory(prefix=f".{tarball.stem}-", dir=tarball.parent) as root:
            _debootstrap(Path(root), packages, suite, mirror)
            with replacing(tarball) as partial:
                _tar(["-C", root, "-cf", str(partial), "."], f"pack the root {root}")
    log.info("cached the %s root (%s) at %s", suite, ", ".join(packages) or "minbase", tarball)
    return tarball


def debian_root(
    dest: str | os.PathLike[str],
    packages: Sequence[str] = (),
    suite: str = DEFAULT_SUITE,
    mirror: str | None = None,
    cache: str | os.PathLike[str] | None = None,
) -> Path:
    """Make a minbase Debian root with ``packages`` at ``dest`` (new or empty); returns ``dest``.

    Args:
        packages: Debian packages added to minbase (none: no Python at all).
        suite: Debian release.
        mirror: where the packages come from (default: this machine's apt source for ``suite``).
        cache: folder of cached root tarballs (see :func:`root_tarball`); without it,
            debootstrap runs every time.

    Raises:
        EnvError: ``dest`` not empty, not root, debootstrap missing or failing. Nothing is
            left at ``dest`` then.
    """
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise EnvError(f"{dest} exists and is not an empty folder", "choose a new or empty destination for the root")
    _require_tools()
    with replacing(dest, folder=True) as root:
        if cache is None:
            _debootstrap(root, packages, suite, mirror or host_mirror(suite))
        else:
            tarball = root_tarball(cache, packages, suite, mirror)
            _tar(["-C", str(root), "-xpf", str(tarball)], f"unpack {tarball}")
        if dest.exists():
            dest.rmdir()
    return dest
