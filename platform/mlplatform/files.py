"""Local files every layer writes the same way: replaced atomically, hashed, locked.

- :func:`replacing` / :func:`write_atomic`: write under a temporary name in the target's
  folder, then rename into place, so a reader never sees half a file (or folder);
- :func:`sha256_file` / :func:`sha256_of`: the hex sha256 of a file or stream, read 1 MiB at a time;
- :func:`flocked` / :func:`flock`: a ``flock`` the kernel drops when the process dies.

Standard library only.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import IO, Callable, Iterator

__all__ = ["temp_sibling", "replacing", "write_atomic", "sha256_of", "sha256_file", "flock", "flocked"]


def temp_sibling(target: str | os.PathLike[str]) -> Path:
    """A fresh hidden name in the folder of ``target``: ``.<name>.<random>.tmp``."""
    target = Path(target)
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")


@contextlib.contextmanager
def replacing(target: str | os.PathLike[str], folder: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``target`` to write; it is renamed onto ``target`` when the block ends.

    The folder of ``target`` is created. A file replaces an existing ``target``; with ``folder``
    the sibling is an empty folder, which can replace only a missing or empty ``target``
    (remove an old one inside the block). When the block raises, the sibling is removed and
    ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = temp_sibling(target)
    if folder:
        partial.mkdir()
    try:
        yield partial
        os.replace(partial, target)
    finally:
        if folder:
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.unlink(missing_ok=True)


def write_atomic(target: str | os.PathLike[str], data: str | bytes) -> None:
    """Write ``data`` (text or bytes) to ``target`` through :func:`replacing`."""
    with replacing(target) as partial:
        if isinstance(data, bytes):
            partial.write_bytes(data)
        else:
            partial.write_text(data)


def sha256_of(fh: IO[bytes]) -> str:
    """Hex sha256 of what is left to read in ``fh``."""
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a local file."""
    with open(path, "rb") as fh:
        return sha256_of(fh)


def flock(fd: int, shared: bool = False, on_wait: Callable[[], None] | None = None) -> None:
    """Lock the open file ``fd`` (exclusive, or ``shared``), waiting as long as another process holds it.

    ``on_wait`` is called once, before waiting, when the lock is not free at once.
    """
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    if on_wait is not None:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            on_wait()
    fcntl.flock(fd, mode)


@contextlib.contextmanager
def flocked(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive :func:`flock` on ``path`` (created, with its folder) for the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        flock(fh.fileno())
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
