"""The dynamic section of an ELF file: what it loads (DT_NEEDED) and where it looks (DT_RPATH, DT_RUNPATH).

Read straight from the file (32/64-bit, either byte order), so checking thousands of a
wheel's objects costs no process per file::

    info = read_dynamic(Path("lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so"))
    info.needed        # ('libssl.so.3', 'libcrypto.so.3', 'libc.so.6')
    info.runpath       # '$ORIGIN/../..'
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Dynamic", "is_elf", "read_dynamic"]

_MAGIC = b"\x7fELF"
_SHT_DYNAMIC = 6
_DT_NEEDED, _DT_RPATH, _DT_RUNPATH = 1, 15, 29


@dataclass(frozen=True)
class Dynamic:
    """An ELF object's dependencies and search paths (None: the tag is absent)."""

    needed: tuple[str, ...] = ()
    rpath: str | None = None
    runpath: str | None = None

    @property
    def search_path(self) -> str:
        """The RUNPATH, else the RPATH, as ``patchelf --print-rpath`` prints it."""
        return self.runpath if self.runpath is not None else (self.rpath or "")


def is_elf(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == _MAGIC


def _string(data: mmap.mmap, offset: int) -> str:
    return data[offset : data.find(b"\0", offset)].decode("utf-8", "surrogateescape")


def read_dynamic(path: Path) -> Dynamic:
    """The dynamic section of ``path`` (empty for a static object or one without section headers)."""
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _parse(data, path)


def _parse(data: mmap.mmap, path: Path) -> Dynamic:
    if data[:4] != _MAGIC:
        raise ValueError(f"{path} is not an ELF file")
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    if wide:
        shoff, shentsize, shnum = struct.unpack_from(f"{order}Q10xHH", data, 0x28)
        section, entry = f"{order}IIQQQQII", f"{order}qQ"
    else:
        shoff, shentsize, shnum = struct.unpack_from(f"{order}I10xHH", data, 0x20)
        section, entry = f"{order}IIIIIIII", f"{order}iI"
    headers = [struct.unpack_from(section, data, shoff + i * shentsize) for i in range(shnum if shoff else 0)]
    for header in headers:
        if header[1] != _SHT_DYNAMIC:
            continue
        offset, size, link = header[4], header[5], header[6]
        strtab = headers[link][4]
        tags: list[tuple[int, str]] = []
        for pos in range(offset, offset + size, struct.calcsize(entry)):
            tag, value = struct.unpack_from(entry, data, pos)
            if tag == 0:
                break
            if tag in (_DT_NEEDED, _DT_RPATH, _DT_RUNPATH):
                tags.append((tag, _string(data, strtab + value)))
        found = dict(tags)
        return Dynamic(tuple(v for t, v in tags if t == _DT_NEEDED), found.get(_DT_RPATH), found.get(_DT_RUNPATH))
    return Dynamic()
