"""A real Hadoop on one machine: HDFS (NameNode + DataNode) and YARN (ResourceManager + NodeManager).

``mlp hadoop up`` fetches ``org.apache.hadoop:hadoop-client-minicluster`` at the Hadoop
version of the client jars inside pyspark (with ``mvn``, once), compiles a small launcher
(``MlpMiniCluster.java``) with ``javac`` and starts it as one background JVM. Its data
lives in ``<home>/hadoop/data`` and survives ``down``/``up``; once HDFS and YARN both
answer it writes a ``HADOOP_CONF_DIR`` (``core-site.xml``, ``hdfs-site.xml``,
``yarn-site.xml``) to ``<home>/hadoop/conf``, which is all the ``yarn`` Spark profile
needs to find it.

Example::

    from mlplatform.launch import minicluster
    cluster, started = minicluster.up(settings)          # ports: 9000, 9870, 8032, 8088
    print(cluster.fs_default, cluster.resourcemanager_http)
    minicluster.down(settings)                           # stops it; no process is left
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mlplatform import files
from mlplatform.config import Settings
from mlplatform.errors import HadoopError
from mlplatform.launch import jars
from mlplatform.launch.java import find_java
from mlplatform.launch.profiles import pyspark_home

__all__ = [
    "Ports",
    "LocalCluster",
    "ClusterStatus",
    "hadoop_version",
    "cluster_home",
    "running",
    "up",
    "down",
    "status",
    "container_logs",
    "serves",
    "leftover_processes",
    "http_json",
    "NODE_RESOURCES",
    "DISK_LIMIT_KEY",
]

log = logging.getLogger(__name__)

LAUNCHER_SOURCE = Path(__file__).with_name("MlpMiniCluster.java")
LAUNCHER_CLASS = "MlpMiniCluster"

# Test-scope dependencies the shaded minicluster jar leaves out but needs at run time:
# MiniYARNCluster finds its work dir through GenericTestUtils (JUnit 5 assertions), the
# ResourceManager's proxy CA needs Bouncy Castle, and reload4j gives the servers a log.
_EXTRA_ARTIFACTS = (
    jars.MavenArtifact("org.junit.jupiter", "junit-jupiter-api", "5.13.3"),
    jars.MavenArtifact("org.bouncycastle", "bcpkix-jdk18on", "1.82"),
    jars.MavenArtifact("org.slf4j", "slf4j-reload4j", "1.7.36"),
)

# What the one NodeManager offers: small enough to share a small machine with other
# JVMs, large enough for an application master and two 1 GB executors.
NODE_RESOURCES: dict[str, str] = {
    "yarn.minicluster.yarn.nodemanager.resource.memory-mb": "6144",
    "yarn.nodemanager.resource.memory-mb": "6144",
    "yarn.nodemanager.resource.cpu-vcores": "4",
    "yarn.scheduler.minimum-allocation-mb": "256",
    "yarn.scheduler.maximum-allocation-mb": "6144",
    "yarn.scheduler.maximum-allocation-vcores": "4",
}

# The NodeManager marks its node unhealthy (and runs nothing) when a disk is fuller than
# this: YARN's default 90 is meant for dedicated data disks, not one machine's only disk.
DISK_LIMIT_KEY = "yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage"

_SCHEDULER: dict[str, str] = {
    "yarn.scheduler.capacity.root.queues": "default",
    "yarn.scheduler.capacity.root.default.capacity": "100",
    "yarn.scheduler.capacity.root.default.maximum-capacity": "100",
    # Let a few applications run side by side (the default 0.1 admits one at a time).
    "yarn.scheduler.capacity.maximum-am-resource-percent": "0.5",
    # Java reserves far more virtual memory than it touches.
    "yarn.nodemanager.vmem-check-enabled": "false",
    # Container logs stay on the node for `mlp hadoop logs` (no log aggregation here).
    "yarn.nodemanager.log.retain-seconds": "86400",
    DISK_LIMIT_KEY: "98",
    # No `find -L` listing of each container's directory (thousands of files of an unpacked
    # environment, twice per container) beside its logs.
    "yarn.nodemanager.log-container-debug-info.enabled": "false",
    # `user.name=` on the ResourceManager's REST API (simple auth), so the platform can
    # kill an application that YARN cannot schedule, as on a cluster with pseudo auth.
    "hadoop.http.filter.initializers": "org.apache.hadoop.security.AuthenticationFilterInitializer",
    "hadoop.http.authentication.type": "simple",
    "hadoop.http.authentication.simple.anonymous.allowed": "true",
}

_HEAP = "1g"


@dataclass(frozen=True)
class Ports:
    """Ports of the one-machine Hadoop; 0 lets the system choose a free one."""

    namenode: int = 9000
    namenode_http: int = 9870
    resourcemanager: int = 8032
    resourcemanager_http: int = 8088

    @classmethod
    def any(cls) -> "Ports":
        """Free ports chosen at start (tests, several clusters on one machine)."""
        return cls(0, 0, 0, 0)


@dataclass(frozen=True)
class LocalCluster:
    """A running one-machine Hadoop, as its launcher reported it."""

    pid: int
    fs_default: str
    namenode_http: str
    resourcemanager: str
    resourcemanager_http: str
    conf_dir: Path
    home: Path

    @property
    def data_dir(self) -> Path:
        return self.home / "data"


@dataclass(frozen=True)
class ClusterStatus:
    """What ``mlp hadoop status`` shows."""

    cluster: LocalCluster
    live_datanodes: int
    nodemanagers: list[dict[str, Any]] = field(default_factory=list)
    applications: list[dict[str, Any]] = field(default_factory=list)


def hadoop_version() -> str:
    """The Hadoop version of the client jars inside pyspark (``hadoop-client-api-<v>.jar``)."""

    found = sorted((pyspark_home() / "jars").glob("hadoop-client-api-*.jar"))
    if not found:
        raise HadoopError("pyspark ships no hadoop-client-api jar", "reinstall pyspark (scripts/setup)")
    return found[-1].name[len("hadoop-client-api-") : -len(".jar")]


def cluster_home(settings: Settings) -> Path:
    """``<home>/hadoop``: data, generated conf, logs and the launcher's state."""
    return Path(settings.home) / "hadoop"


def _fetch_jars(settings: Settings) -> list[Path]:
    artifacts = (
        jars.MavenArtifact("org.apache.hadoop", "hadoop-client-minicluster", hadoop_version()),
        *_EXTRA_ARTIFACTS,
    )
    found: list[Path] = []
    for artifact in artifacts:
        try:
            found += jars.fetch(artifact, settings.jars_dir)
        except Exception as exc:  # SparkSetupError from jars.fetch: re-word it for this area
            raise HadoopError(
                f"cannot fetch {artifact.coordinate} for the one-machine Hadoop: {exc}",
                "check that mvn works and Maven Central is reachable",
            ) from exc
    return found


def _javac() -> Path:

    candidates = [find_java().home / "bin" / "javac"]
    on_path = shutil.which("javac")
    if on_path:
        candidates.append(Path(on_path))
    for javac in candidates:
        if javac.is_file() and os.access(javac, os.X_OK):
            return javac
    raise HadoopError(
        "the one-machine Hadoop needs javac (a JDK), but none was found",
        "install a JDK 17+ (apt-get install openjdk-17-jdk-headless) or set JAVA_HOME to one",
    )


def _launcher_classes(settings: Settings, classpath: str) -> Path:
    """Compile the launcher once per source content into ``<jars_dir>/mlp-minicluster-<hash>``."""
    digest = files.sha256_file(LAUNCHER_SOURCE)[:12]
    target = Path(settings.jars_dir) / f"mlp-minicluster-{digest}"
    if (target / f"{LAUNCHER_CLASS}.class").is_file():
        return target
    with files.replacing(target, folder=True) as partial:
        javac = [str(_javac()), "-nowarn", "-XDignore.symbol.file", "-d", str(partial), "-cp", classpath]
        proc = subprocess.run([*javac, str(LAUNCHER_SOURCE)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise HadoopError(
                f"javac could not compile {LAUNCHER_SOURCE.name}: {proc.stderr.strip()[-500:]}",
                "check that the fetched hadoop-client-minicluster version matches pyspark's Hadoop",
            )
        if target.exists():
            shutil.rmtree(target)  # an earlier compile that did not finish
    return target


def _classpath(settings: Settings) -> str:
    jar_paths = [str(p) for p in _fetch_jars(settings)]
    compile_cp = os.pathsep.join(jar_paths)
    return os.pathsep.join([str(_launcher_classes(settings, compile_cp)), compile_cp])


def _state_file(home: Path) -> Path:
    return home / "state.json"


def _pid_file(home: Path) -> Path:
    return home / "launcher.pid"


def _alive(pid: int, home: Path) -> bool:
    """Whether ``pid`` is our launcher for ``home`` (not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return LAUNCHER_CLASS.encode() in cmdline and str(home / "data").encode() in cmdline


def _read_pid(home: Path) -> int | None:
    try:
        return int(_pid_file(home).read_text().strip())
    except (OSError, ValueError):
        return None


def running(settings: Settings) -> LocalCluster | None:
    """The running one-machine Hadoop of this platform home, or None."""
    home = cluster_home(settings)
    pid = _read_pid(home)
    if pid is None or not _alive(pid, home):
        return None
    try:
        state = json.loads(_state_file(home).read_text())
    except (OSError, ValueError):
        return None  # still starting
    if int(state["pid"]) != pid:
        return None
    return LocalCluster(
        pid=pid,
        fs_default=state["fs_default"],
        namenode_http=state["namenode_http"],
        resourcemanager=state["resourcemanager"],
        resourcemanager_http=state["resourcemanager_http"],
        conf_dir=Path(state["conf_dir"]),
        home=home,
    )


def http_json(url: str, timeout: float = 5.0) -> Any:
    """GET ``url`` and decode its JSON body (urllib errors propagate)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return json.loads(resp.read().decode())


def _answers(cluster: LocalCluster) -> str | None:
    """None when HDFS and YARN both answer over HTTP, else what did not."""
    checks = {
        "HDFS (WebHDFS)": f"{cluster.namenode_http}/webhdfs/v1/?op=GETFILESTATUS&user.name=mlp",
        "YARN (ResourceManager)": f"{cluster.resourcemanager_http}/ws/v1/cluster/info",
    }
    for name, url in checks.items():
        try:
            http_json(url)
        except (OSError, ValueError) as exc:
            return f"{name} at {url} does not answer: {exc}"
    return None


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    useful = [line for line in text if not line.startswith(("\tat ", "\t... "))]
    return "\n".join(useful[-lines:])


def _check_disk(home: Path, conf: Mapping[str, str]) -> None:
    """Refuse to start when the data dir's disk is fuller than the NodeManager accepts.

    Used space is counted as YARN counts it: everything but what users may still write.
    """
    raw = conf.get(DISK_LIMIT_KEY, _SCHEDULER[DISK_LIMIT_KEY])
    try:
        limit = float(raw)
    except ValueError:
        raise HadoopError(f"{DISK_LIMIT_KEY}={raw} is not a percentage", "give a number from 0 to 100") from None
    data = home / "data"
    existing = next(p for p in (data, *data.parents) if p.exists())
    usage = shutil.disk_usage(existing)
    used = 100.0 * (1 - usage.free / usage.total)
    if used > limit:
        raise HadoopError(
            f"the disk of {data} is {used:.0f}% used as YARN counts it ({usage.free / 2**30:.1f} GB free to users of "
            f"{usage.total / 2**30:.0f} GB) and its NodeManager runs nothing above {limit:g}% ({DISK_LIMIT_KEY})",
            "free disk space (old homes, /tmp), or start with --set "
            f"{DISK_LIMIT_KEY}=<a higher percentage, at most 100>",
        )


def _launch_command(settings: Settings, home: Path, ports: Ports, conf: Mapping[str, str]) -> list[str]:

    data = home / "data"
    argv = [
        str(find_java().executable),
        f"-Xmx{_HEAP}",
        "-XX:+UseSerialGC",
        f"-Djava.io.tmpdir={home / 'tmp'}",
        f"-Dtest.build.data={data / 'yarn'}",
        "-cp",
        _classpath(settings),
        LAUNCHER_CLASS,
        "--base",
        str(data),
        "--conf-dir",
        str(home / "conf"),
        "--state",
        str(_state_file(home)),
        "--nn-port",
        str(ports.namenode),
        "--nn-http-port",
        str(ports.namenode_http),
        "--rm-port",
        str(ports.resourcemanager),
        "--rm-web-port",
        str(ports.resourcemanager_http),
    ]
    for key, value in {**_SCHEDULER, **NODE_RESOURCES, **conf}.items():
        argv += ["-D", f"{key}={value}"]
    return argv


def up(
    settings: Settings,
    ports: Ports = Ports(),
    conf: Mapping[str, str] | None = None,
    timeout: float = 180.0,
) -> tuple[LocalCluster, bool]:
    """Start the one-machine Hadoop in the background and wait until HDFS and YARN answer.

    Args:
        settings: platform settings; the cluster lives in ``<home>/hadoop``.
        ports: NameNode RPC/HTTP and ResourceManager RPC/HTTP ports (0: any free port).
        conf: extra Hadoop settings (``yarn.*``, ``dfs.*``) on top of :data:`NODE_RESOURCES`.
        timeout: seconds to wait for both to answer.

    Returns:
        The cluster and whether this call started it (False: it was already running).

    Raises:
        HadoopError: it did not start (the message carries the end of its log).
    """
    home = cluster_home(settings)
    with files.flocked(home / ".lock"):
        existing = running(settings)
        if existing is not None:
            return existing, False
        _check_disk(home, conf or {})
        argv = _launch_command(settings, home, ports, conf or {})
        _state_file(home).unlink(missing_ok=True)
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        logfile = home / "minicluster.log"
        with open(logfile, "wb") as out:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=home, start_new_session=True
            )
        _pid_file(home).write_text(f"{proc.pid}\n")
        log.info("starting HDFS and YARN (pid %d, log %s)", proc.pid, logfile)
        deadline = time.monotonic() + timeout
        problem = "it wrote no state file"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                _pid_file(home).unlink(missing_ok=True)
                raise HadoopError(
                    f"the one-machine Hadoop in {home} exited with code {proc.returncode} while starting:\n"
                    f"{_log_tail(logfile)}",
                    _start_hint(logfile),
                )
            cluster = running(settings)
            if cluster is not None:
                problem = _answers(cluster) or ""
                if not problem:
                    return cluster, True
            time.sleep(0.5)
        _stop_pid(proc.pid, home, grace=30)
        raise HadoopError(
            f"the one-machine Hadoop in {home} did not answer within {timeout:.0f} s ({problem})",
            f"see {logfile}; a slow machine may need a longer --timeout",
        )


def _start_hint(logfile: Path) -> str:
    text = logfile.read_text(errors="replace") if logfile.is_file() else ""
    if "BindException" in text or "Address already in use" in text:
        return "a port is taken: pick others (mlp hadoop up --nn-port ... or 0 for any free port)"
    return f"see the whole log in {logfile}"


def _pids_under(root: Path) -> list[int]:
    """Processes whose working directory lies under ``root`` (YARN containers of our NodeManager)."""
    found = []
    prefix = str(root.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd == prefix or cwd.startswith(prefix + os.sep):
            found.append(int(entry.name))
    return found


def leftover_processes(settings: Settings) -> list[int]:
    """Processes of the one-machine Hadoop still alive: the launcher and its YARN containers."""
    home = cluster_home(settings)
    pids = _pids_under(home / "data")
    pid = _read_pid(home)
    if pid is not None and _alive(pid, home) and pid not in pids:
        pids.append(pid)
    return sorted(pids)


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in alive if Path(f"/proc/{p}").exists() and not _zombie(p)]
    return alive


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _stop_pid(pid: int, home: Path, grace: float) -> None:
    """SIGTERM the launcher (it stops YARN, then HDFS), SIGKILL after ``grace`` seconds."""
    _signal([pid], signal.SIGTERM)
    if _wait_gone([pid], grace):
        log.warning("the one-machine Hadoop (pid %d) did not stop in %.0f s: killing it", pid, grace)
        _signal([pid], signal.SIGKILL)
        _wait_gone([pid], 10)
    containers = _pids_under(home / "data")
    if containers:
        log.info("stopping %d leftover YARN container processes", len(containers))
        _signal(containers, signal.SIGTERM)
        _signal(_wait_gone(containers, 10), signal.SIGKILL)


def down(settings: Settings, purge: bool = False, timeout: float = 60.0) -> LocalCluster | None:
    """Stop the one-machine Hadoop and its containers; return what was stopped (None: nothing ran).

    With ``purge`` its data (HDFS blocks, NameNode metadata) is deleted as well.
    """
    home = cluster_home(settings)
    with files.flocked(home / ".lock"):
        cluster = running(settings)
        pid = _read_pid(home)
        if pid is not None and _alive(pid, home):
            _stop_pid(pid, home, grace=timeout)
        else:
            containers = _pids_under(home / "data") if home.exists() else []
            if containers:
                _signal(containers, signal.SIGKILL)
        _state_file(home).unlink(missing_ok=True)
        _pid_file(home).unlink(missing_ok=True)
        if purge:
            shutil.rmtree(home / "data", ignore_errors=True)
            shutil.rmtree(home / "conf", ignore_errors=True)
        return cluster


def status(settings: Settings) -> ClusterStatus | None:
    """Live DataNodes, NodeManagers and unfinished applications of the running cluster."""
    cluster = running(settings)
    if cluster is None:
        return None
    problem = _answers(cluster)
    if problem:
        raise HadoopError(
            f"the one-machine Hadoop (pid {cluster.pid}) runs but {problem}",
            f"see {cluster.home / 'minicluster.log'}; restart it with mlp hadoop down && mlp hadoop up",
        )
    jmx = http_json(f"{cluster.namenode_http}/jmx?qry=Hadoop:service=NameNode,name=FSNamesystemState")
    live = int(jmx["beans"][0]["NumLiveDataNodes"]) if jmx.get("beans") else 0
    rm = cluster.resourcemanager_http
    nodes = (http_json(f"{rm}/ws/v1/cluster/nodes").get("nodes") or {}).get("node") or []
    apps = (
        http_json(f"{rm}/ws/v1/cluster/apps?states=NEW,NEW_SAVING,SUBMITTED,ACCEPTED,RUNNING").get("apps") or {}
    ).get("app") or []
    return ClusterStatus(cluster=cluster, live_datanodes=live, nodemanagers=nodes, applications=apps)


def serves(conf_dir: str | os.PathLike[str]) -> bool:
    """Whether ``conf_dir`` is the HADOOP_CONF_DIR of a one-machine Hadoop that is running."""
    home = Path(conf_dir).resolve().parent
    pid = _read_pid(home)
    return pid is not None and _alive(pid, home) and (home / "conf").resolve() == Path(conf_dir).resolve()


def container_logs(settings: Settings, app_id: str) -> list[Path]:
    """The log files (stdout, stderr, ...) of every container of ``app_id`` on the local NodeManager.

    Looked up in this platform home's cluster, then in the one-machine Hadoop that
    ``hadoop_conf_dir`` / ``HADOOP_CONF_DIR`` names.
    """
    homes = [cluster_home(settings)]
    conf_dir = settings.hadoop_conf_dir or os.environ.get("HADOOP_CONF_DIR")
    if conf_dir:
        homes.append(Path(conf_dir).resolve().parent)
    for home in homes:
        found = sorted(p for p in (home / "data" / "yarn").glob(f"*/*/*logDir*/{app_id}/*/*") if p.is_file())
        if found:
            return found
    raise HadoopError(
        f"no container logs for {app_id} under {' or '.join(str(h / 'data' / 'yarn') for h in homes)}",
        "logs live as long as the cluster runs; check the application id (mlp hadoop status)",
    )
