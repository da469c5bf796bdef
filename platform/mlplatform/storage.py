"""URI-based file operations for local paths (``/abs/path``, ``file://``) and ``hdfs://``.

The interface is deliberately small — :func:`exists`, :func:`put`, :func:`get`,
:func:`delete`, :func:`listdir`, :func:`open_read`, :func:`stat`, :func:`share` — plus
:func:`join` to build URIs. Backends are chosen by URI scheme (``file`` or ``hdfs``);
``hdfs://`` goes through WebHDFS with the ``hdfs`` package, at ``settings.webhdfs_url``
as ``settings.hdfs_user``, by default the authenticated user (:func:`identity.current_actor`).

:func:`share` gives what the platform created on ``hdfs://`` the configured
``hdfs_group`` and ``hdfs_mode`` (directories the mode, files the mode without its
execute bits); local files keep the operating system's rules.

:func:`put` is atomic: the file is written under a temporary name in the target
folder and renamed into place, so a reader never sees half a file.

Example::

    from mlplatform import storage
    storage.put("/tmp/env.tar.gz", "hdfs://localhost:9000/mlp/artifacts/envs/x/env.tar.gz")
    with storage.open_read("hdfs://localhost:9000/mlp/artifacts/envs/x/manifest.json") as fh:
        manifest = json.load(fh)
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import stat as stat_bits
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterator
from urllib.parse import urlsplit

from mlplatform import files
from mlplatform.config import load_settings
from mlplatform.errors import StorageError
from mlplatform.identity import current_actor

if TYPE_CHECKING:
    from mlplatform.config import Settings

__all__ = [
    "exists",
    "put",
    "get",
    "delete",
    "listdir",
    "open_read",
    "stat",
    "share",
    "Entry",
    "file_mode",
    "join",
    "is_local",
    "local_path",
]


@dataclass(frozen=True)
class Entry:
    """Owner, group and permission bits of a file or folder (``mode`` e.g. ``0o775``)."""

    owner: str
    group: str
    mode: int
    is_dir: bool

    def describe(self) -> str:
        """``owner root, group team-a, mode 775``."""
        return f"owner {self.owner}, group {self.group}, mode {self.mode:03o}"


def file_mode(dir_mode: int) -> int:
    """The mode of files under a folder of ``dir_mode``: the same bits without execute (775 -> 664)."""
    return dir_mode & 0o666


class _Backend(ABC):
    @abstractmethod
    def exists(self, uri: str) -> bool: ...

    @abstractmethod
    def put(self, local: Path, uri: str) -> None: ...

    @abstractmethod
    def get(self, uri: str, local: Path) -> None: ...

    @abstractmethod
    def delete(self, uri: str, recursive: bool) -> bool: ...

    @abstractmethod
    def listdir(self, uri: str) -> list[str]: ...

    @abstractmethod
    def open_read(self, uri: str) -> contextlib.AbstractContextManager[IO[bytes]]: ...

    @abstractmethod
    def stat(self, uri: str) -> Entry | None: ...

    @abstractmethod
    def share(self, uri: str, group: str | None, dir_mode: int | None) -> None: ...


class _Local(_Backend):
    def exists(self, uri: str) -> bool:
        return os.path.lexists(local_path(uri))

    @staticmethod
    def _copy(source: Path, target: Path) -> None:
        """Copy under a temporary name in the target folder, then rename into place."""
        if not source.is_file():
            raise FileNotFoundError(str(source))
        with files.replacing(target) as partial:
            shutil.copyfile(source, partial)

    def put(self, local: Path, uri: str) -> None:
        self._copy(local, Path(local_path(uri)))

    def get(self, uri: str, local: Path) -> None:
        self._copy(Path(local_path(uri)), local)

    def delete(self, uri: str, recursive: bool) -> bool:
        path = Path(local_path(uri))
        if path.is_dir() and not path.is_symlink():
            if recursive:
                shutil.rmtree(path)
            else:
                path.rmdir()
            return True
        if os.path.lexists(path):
            path.unlink()
            return True
        return False

    def listdir(self, uri: str) -> list[str]:
        path = Path(local_path(uri))
        return sorted(os.listdir(path)) if path.is_dir() else []

    def open_read(self, uri: str) -> contextlib.AbstractContextManager[IO[bytes]]:
        return open(local_path(uri), "rb")

    def stat(self, uri: str) -> Entry | None:
        try:
            info = os.stat(local_path(uri))
        except FileNotFoundError:
            return None
        return Entry(
            _user_name(info.st_uid),
            _group_name(info.st_gid),
            stat_bits.S_IMODE(info.st_mode),
            stat_bits.S_ISDIR(info.st_mode),
        )

    def share(self, uri: str, group: str | None, dir_mode: int | None) -> None:
        """Local files keep the OS's rules (umask, setgid folders): nothing to do."""


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


class _Hdfs(_Backend):
    """WebHDFS through the ``hdfs`` package; paths are the URI's path part."""

    def __init__(self, settings: "Settings | None") -> None:

        self.settings = settings or load_settings()
        self._client = None

    @property
    def client(self):  # type: ignore[no-untyped-def]
        if self._client is None:
            from hdfs import InsecureClient

            if not self.settings.webhdfs_url:
                raise StorageError(
                    "hdfs:// URIs need WebHDFS but the setting webhdfs_url is not set",
                    "set webhdfs_url (e.g. http://localhost:9870) in conf/platform.yaml or MLP_WEBHDFS_URL",
                )
            self._client = InsecureClient(self.settings.webhdfs_url, user=self.settings.hdfs_user or current_actor())
        return self._client

    @staticmethod
    def _path(uri: str) -> str:
        return urlsplit(uri).path or "/"

    def exists(self, uri: str) -> bool:
        return self.client.status(self._path(uri), strict=False) is not None

    def put(self, local: Path, uri: str) -> None:
        path = self._path(uri)
        partial = str(files.temp_sibling(path))
        try:
            self.client.upload(partial, str(local), overwrite=True)
            # WebHDFS RENAME does not replace an existing file: remove it first.
            if self.client.status(path, strict=False) is not None:
                self.client.delete(path)
            self.client.rename(partial, path)
        finally:
            if self.client.status(partial, strict=False) is not None:
                self.client.delete(partial)

    def get(self, uri: str, local: Path) -> None:
        with files.replacing(local) as partial:
            self.client.download(self._path(uri), str(partial), overwrite=True)

    def delete(self, uri: str, recursive: bool) -> bool:
        return bool(self.client.delete(self._path(uri), recursive=recursive))

    def listdir(self, uri: str) -> list[str]:
        path = self._path(uri)
        if self.client.status(path, strict=False) is None:
            return []
        return sorted(self.client.list(path))

    @contextlib.contextmanager
    def open_read(self, uri: str) -> Iterator[IO[bytes]]:
        with self.client.read(self._path(uri)) as reader:
            yield reader

    def stat(self, uri: str) -> Entry | None:
        info = self.client.status(self._path(uri), strict=False)
        if info is None:
            return None
        return Entry(info["owner"], info["group"], int(info["permission"], 8), info["type"] == "DIRECTORY")

    def share(self, uri: str, group: str | None, dir_mode: int | None) -> None:
        root = self._path(uri)
        if self.client.status(root)["type"] != "DIRECTORY":
            self._set(root, group, None if dir_mode is None else file_mode(dir_mode))
            return
        for folder, _, names in self.client.walk(root):
            self._set(folder, group, dir_mode)
            for name in names:
                self._set(f"{folder.rstrip('/')}/{name}", group, None if dir_mode is None else file_mode(dir_mode))

    def _set(self, path: str, group: str | None, mode: int | None) -> None:
        if group is not None:
            self.client.set_owner(path, group=group)
        if mode is not None:
            self.client.set_permission(path, f"{mode:03o}")


_SCHEMES = ("file", "hdfs")


def _scheme(uri: str) -> str:
    scheme = urlsplit(str(uri)).scheme if "://" in str(uri) else "file"
    if scheme not in _SCHEMES:
        raise StorageError(f"URI '{uri}' has the unknown scheme '{scheme}'", f"known schemes: {', '.join(_SCHEMES)}")
    return scheme


def _backend(uri: str, settings: "Settings | None") -> _Backend:
    return _Hdfs(settings) if _scheme(uri) == "hdfs" else _Local()


def is_local(uri: str | os.PathLike[str]) -> bool:
    """True for a plain path or a ``file://`` URI."""
    return _scheme(str(uri)) == "file"


def local_path(uri: str | os.PathLike[str]) -> str:
    """The filesystem path of a plain path or ``file://`` URI."""
    uri = str(uri)
    if _scheme(uri) != "file":
        raise StorageError(f"'{uri}' is not a local path", "copy it locally first with storage.get")
    return urlsplit(uri).path if uri.startswith("file:") else uri


def join(base: str | os.PathLike[str], *parts: str) -> str:
    """Append path parts to a path or URI with ``/``."""
    out = str(base).rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


@contextlib.contextmanager
def _errors(action: str, uri: str) -> Iterator[None]:
    """Turn a backend failure into a StorageError naming the action and the URI."""
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(
            f"cannot {action} {uri}: {exc}",
            "check that the path exists and is reachable (for hdfs://: webhdfs_url, hdfs_user)",
        ) from exc


def exists(uri: str, settings: "Settings | None" = None) -> bool:
    """Whether a file or folder exists at ``uri``."""
    with _errors("check", uri):
        return _backend(uri, settings).exists(uri)


def put(local: str | os.PathLike[str], uri: str, settings: "Settings | None" = None) -> None:
    """Copy the local file ``local`` to ``uri`` atomically (temporary name, then rename); parents are created."""
    source = Path(local)
    if not source.is_file():
        raise StorageError(f"cannot upload {source}: it is not a file")
    with _errors(f"upload {source} to", uri):
        _backend(uri, settings).put(source, uri)


def get(uri: str, local: str | os.PathLike[str], settings: "Settings | None" = None) -> Path:
    """Copy the file at ``uri`` to the local path ``local`` (atomic on the local side); returns it."""
    target = Path(local)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _errors("download", uri):
        _backend(uri, settings).get(uri, target)
    return target


def delete(uri: str, recursive: bool = False, settings: "Settings | None" = None) -> bool:
    """Delete a file (or a folder with ``recursive``); False when nothing was there."""
    with _errors("delete", uri):
        return _backend(uri, settings).delete(uri, recursive)


def listdir(uri: str, settings: "Settings | None" = None) -> list[str]:
    """Names of the entries of the folder at ``uri``, sorted; empty when it does not exist."""
    with _errors("list", uri):
        return _backend(uri, settings).listdir(uri)


def stat(uri: str, settings: "Settings | None" = None) -> Entry | None:
    """Owner, group and mode of the file or folder at ``uri``; None when nothing is there."""
    with _errors("stat", uri):
        return _backend(uri, settings).stat(uri)


def share(uri: str, settings: "Settings | None" = None) -> None:
    """Give the ``hdfs://`` file or tree at ``uri`` the ``hdfs_group`` and ``hdfs_mode`` settings.

    For what the platform itself just created (a new table, a published artifact):
    folders get ``hdfs_mode``, files :func:`file_mode` of it. Nothing happens for local
    paths or when neither setting is set. HDFS decides whether the group exists and
    whether this user may give it (its owner must be a member; the superuser may always).
    """
    settings = settings or load_settings()
    if is_local(uri) or (settings.hdfs_group is None and settings.hdfs_mode is None):
        return
    mode = int(settings.hdfs_mode, 8) if settings.hdfs_mode is not None else None
    with _errors(f"give group {settings.hdfs_group} / mode {settings.hdfs_mode} to", uri):
        _backend(uri, settings).share(uri, settings.hdfs_group, mode)


@contextlib.contextmanager
def open_read(uri: str, settings: "Settings | None" = None) -> Iterator[IO[bytes]]:
    """Open the file at ``uri`` for reading bytes."""
    with contextlib.ExitStack() as stack:
        with _errors("read", uri):
            handle = stack.enter_context(_backend(uri, settings).open_read(uri))
        yield handle
