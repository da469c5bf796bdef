"""JVM jars fetched from Maven Central with ``mvn`` into an ignored project folder.

The Delta connector (``io.delta:delta-spark_2.13`` with ``delta-storage`` and its
runtime dependencies) is fetched once by setup; the session factory and
``mlp submit`` put what is here on the classpath.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlplatform import files
from mlplatform.errors import SparkSetupError
from mlplatform.launch.java import find_java

__all__ = ["DELTA_VERSION", "SCALA_VERSION", "MavenArtifact", "DELTA", "fetch", "jars_of", "delta_jars"]

log = logging.getLogger(__name__)

# delta-spark 4.4.0 is built against Spark 4.2.0, which is why pyproject pins
# pyspark==4.2.0; change the two together.
DELTA_VERSION = "4.4.0"
SCALA_VERSION = "2.13"


@dataclass(frozen=True)
class MavenArtifact:
    """A Maven artifact fetched with its runtime dependencies into ``<jars_dir>/<folder>``."""

    group: str
    artifact: str
    version: str

    @property
    def folder(self) -> str:
        return f"{self.artifact}-{self.version}"

    @property
    def coordinate(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"


DELTA = MavenArtifact("io.delta", f"delta-spark_{SCALA_VERSION}", DELTA_VERSION)

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>mlplatform</groupId><artifactId>jar-fetch</artifactId><version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version></dependency>
  </dependencies>
</project>
"""


def jars_of(artifact: MavenArtifact, jars_dir: str | Path) -> list[Path]:
    """The jars already fetched for ``artifact`` (empty when not fetched)."""
    folder = Path(jars_dir) / artifact.folder
    if not (folder / ".complete").is_file():
        return []
    return sorted(folder.glob("*.jar"))


_VERSIONED = re.compile(r"-\d[\w.\-]*\.jar$")


def _base_name(jar: Path) -> str:
    return _VERSIONED.sub("", jar.name)


def _drop_provided(folder: Path, provided_dir: Path) -> None:
    """Remove jars whose artifact Spark already ships (its version wins on the classpath anyway)."""
    provided = {_base_name(j) for j in provided_dir.glob("*.jar")}
    for jar in folder.glob("*.jar"):
        if _base_name(jar) in provided:
            jar.unlink()


def fetch(artifact: MavenArtifact, jars_dir: str | Path, provided_dir: Path | None = None) -> list[Path]:
    """Fetch ``artifact`` and its runtime dependencies once; return the jar paths.

    Jars that ``provided_dir`` (Spark's own ``jars/``) already holds in any version
    are dropped, so the classpath carries one copy of each library. The copy lands
    in a temporary folder first and is renamed into place, so an interrupted fetch
    never leaves a half-filled folder that looks complete.
    """
    existing = jars_of(artifact, jars_dir)
    if existing:
        return existing
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SparkSetupError(
            f"cannot fetch {artifact.coordinate}: the 'mvn' command is not on PATH",
            "install Maven (apt-get install maven) and run scripts/setup again",
        )
    root = Path(jars_dir)
    root.mkdir(parents=True, exist_ok=True)
    target = root / artifact.folder
    with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp, files.replacing(target, folder=True) as out:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(_POM.format(group=artifact.group, artifact=artifact.artifact, version=artifact.version))
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={out}",
            "-DincludeScope=runtime",
        ]
        log.info("fetching %s with mvn", artifact.coordinate)

        env = {**os.environ, "JAVA_HOME": str(find_java().home)}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            raise SparkSetupError(
                f"mvn could not fetch {artifact.coordinate}: " + " | ".join(tail),
                "check that Maven Central is reachable and the version exists",
            )
        if provided_dir is not None:
            _drop_provided(out, provided_dir)
        (out / ".complete").write_text(artifact.coordinate + "\n")
        if target.exists():
            shutil.rmtree(target)  # a fetch that did not finish
    return jars_of(artifact, jars_dir)


def delta_jars(jars_dir: str | Path) -> list[Path]:
    """The Delta jars, or a clear error saying how to fetch them."""
    jars = jars_of(DELTA, jars_dir)
    if not jars:
        raise SparkSetupError(
            f"Delta jars ({DELTA.coordinate}) are not in {jars_dir}",
            "run 'mlp setup' (or scripts/setup) to fetch them with mvn",
        )
    return jars
