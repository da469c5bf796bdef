"""Submitting to any YARN cluster named by a ``HADOOP_CONF_DIR``.

What ``mlp submit --profile yarn`` adds to the spark-submit line (:func:`prepare`):

- the cluster is found (``hadoop_conf_dir`` setting, else ``HADOOP_CONF_DIR``, else the
  running one-machine Hadoop of :mod:`mlplatform.launch.minicluster`) and must answer;
- Spark's jars are zipped once (stored, deterministic) and uploaded once to
  ``hdfs:///user/<user>/.mlp/cache/<sha12>/``, then reused through ``spark.yarn.archive``;
  pyspark's Python zips (``PYSPARK_ARCHIVES_PATH``), the Delta jars (``spark.jars``) and
  local archives (``spark.archives``: environments, the project zip of cluster mode)
  go the same way, so a repeat submit uploads only the driver script, the platform
  zip and Spark's small conf archive;
- every ``hdfs://`` file the job names must exist, and the application master plus one
  executor must fit on a NodeManager: otherwise the submit fails at once with the
  numbers, instead of waiting forever for containers.

:func:`run` then runs spark-submit, watches the application on the ResourceManager
(by a unique ``spark.yarn.tags`` value) and turns the outcomes users meet into one
message: still not scheduled after ``spark.mlp.yarn.acceptTimeout`` seconds (killed,
with YARN's diagnostics), or failed (final status, diagnostics, how to get the logs).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterable, MutableMapping
from urllib.parse import urlsplit

from mlplatform import files, storage
from mlplatform.config import Settings
from mlplatform.errors import HadoopError, SubmitError
from mlplatform.identity import current_actor
from mlplatform.launch import minicluster
from mlplatform.launch.profiles import pyspark_home

if TYPE_CHECKING:
    from mlplatform.launch.command import SubmitCommand

__all__ = [
    "YarnCluster",
    "resolve_conf_dir",
    "prepare",
    "run",
    "is_yarn",
    "ACCEPT_TIMEOUT_CONF",
    "memory_mb",
    "container_mb",
]

log = logging.getLogger(__name__)

ACCEPT_TIMEOUT_CONF = "spark.mlp.yarn.acceptTimeout"
TAG_PREFIX = "mlp-submit-"
_DEFAULT_ACCEPT_TIMEOUT = 120.0
# Conf keys whose values are files YARN localizes; hdfs:// ones must exist before submit.
_FILE_KEYS = (
    "spark.archives",
    "spark.yarn.dist.archives",
    "spark.files",
    "spark.yarn.dist.files",
    "spark.jars",
    "spark.yarn.dist.jars",
    "spark.yarn.archive",
    "spark.submit.pyFiles",
)
_FINISHED = {"FINISHED", "FAILED", "KILLED"}


def _site(conf_dir: Path, name: str) -> dict[str, str]:
    path = conf_dir / name
    if not path.is_file():
        return {}
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise HadoopError(f"{path} is not valid XML: {exc}", "fix or regenerate the file (mlp hadoop up)") from exc
    out = {}
    for prop in root.iter("property"):
        name_el, value_el = prop.find("name"), prop.find("value")
        if name_el is not None and name_el.text:
            out[name_el.text.strip()] = (value_el.text or "").strip() if value_el is not None else ""
    return out


@dataclass(frozen=True)
class YarnCluster:
    """The addresses a client needs, read from a ``HADOOP_CONF_DIR``."""

    conf_dir: Path
    fs_default: str
    namenode_http: str
    resourcemanager_http: str
    min_allocation_mb: int

    @classmethod
    def from_conf_dir(cls, conf_dir: str | os.PathLike[str]) -> "YarnCluster":
        """Parse ``core-site.xml``, ``hdfs-site.xml`` and ``yarn-site.xml`` (Hadoop defaults elsewhere)."""
        path = Path(conf_dir)
        if not (path / "core-site.xml").is_file() and not (path / "yarn-site.xml").is_file():
            raise HadoopError(
                f"HADOOP_CONF_DIR {path} holds no core-site.xml or yarn-site.xml",
                "point it at a Hadoop client configuration folder, or run 'mlp hadoop up'",
            )
        core, hdfs_site, yarn_site = (_site(path, f) for f in ("core-site.xml", "hdfs-site.xml", "yarn-site.xml"))
        fs_default = core.get("fs.defaultFS", "file:///")
        nn_host = urlsplit(fs_default).hostname or "localhost"
        rm_host = yarn_site.get("yarn.resourcemanager.hostname", "0.0.0.0")
        rm_web = yarn_site.get("yarn.resourcemanager.webapp.address", f"{rm_host}:8088").replace(
            "${yarn.resourcemanager.hostname}", rm_host
        )
        return cls(
            conf_dir=path,
            fs_default=fs_default.rstrip("/"),
            namenode_http="http://" + hdfs_site.get("dfs.namenode.http-address", f"{nn_host}:9870"),
            resourcemanager_http="http://" + rm_web,
            min_allocation_mb=int(yarn_site.get("yarn.scheduler.minimum-allocation-mb", "1024")),
        )

    def rest(self, path: str, timeout: float = 10.0) -> Any:
        """GET ``<resourcemanager>/ws/v1/cluster/<path>`` as JSON."""
        return minicluster.http_json(f"{self.resourcemanager_http}/ws/v1/cluster/{path}", timeout)

    def check_alive(self) -> None:
        """Raise a HadoopError naming the address when the ResourceManager does not answer."""
        try:
            self.rest("info")
        except (OSError, ValueError) as exc:
            raise HadoopError(
                f"the YARN ResourceManager at {self.resourcemanager_http} (from HADOOP_CONF_DIR={self.conf_dir}) "
                f"does not answer: {exc}",
                "start the cluster (mlp hadoop up) or point HADOOP_CONF_DIR / hadoop_conf_dir at a running one",
            ) from exc

    def application(self, tag: str) -> dict[str, Any] | None:
        """The application carrying ``tag`` (``spark.yarn.tags``), or None."""
        apps = (self.rest(f"apps?applicationTags={tag}").get("apps") or {}).get("app") or []
        return apps[0] if apps else None

    def kill(self, app_id: str, user: str) -> bool:
        """Ask the ResourceManager to kill ``app_id`` (REST, ``user.name`` as with pseudo auth)."""
        url = f"{self.resourcemanager_http}/ws/v1/cluster/apps/{app_id}/state?user.name={user}"
        request = urllib.request.Request(
            url,
            data=b'{"state": "KILLED"}',
            method="PUT",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10):
                return True
        except (OSError, ValueError) as exc:
            log.warning("could not kill %s through the ResourceManager REST API: %s", app_id, exc)
            return False


def resolve_conf_dir(settings: Settings, profile: str = "yarn") -> Path:
    """``hadoop_conf_dir`` setting, else ``HADOOP_CONF_DIR``, else the running one-machine Hadoop's conf."""
    explicit = settings.hadoop_conf_dir or os.environ.get("HADOOP_CONF_DIR")
    if explicit:
        path = Path(explicit)
        if not path.is_dir():
            raise HadoopError(
                f"HADOOP_CONF_DIR {path} does not exist",
                "point hadoop_conf_dir / HADOOP_CONF_DIR at a Hadoop client configuration folder",
            )
        return path

    local = minicluster.running(settings)
    if local is not None:
        return local.conf_dir
    raise SubmitError(
        f"profile '{profile}' submits to YARN but HADOOP_CONF_DIR is not set and no one-machine Hadoop is running",
        "run 'mlp hadoop up', or set hadoop_conf_dir in conf/platform.yaml (or HADOOP_CONF_DIR) for a real cluster",
    )


# ---------------------------------------------------------------- memory arithmetic

_UNITS = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024, "p": 1024**3}


def memory_mb(value: str, default_unit: str = "m") -> int:
    """Spark memory string (``512m``, ``1g``, ``2048``) in MiB."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmgtp]?)b?\s*", str(value).lower())
    if not match:
        raise HadoopError(f"'{value}' is not a memory size", "use a number with a unit, such as 512m or 2g")
    return int(int(match.group(1)) * _UNITS[match.group(2) or default_unit])


def container_mb(conf: MutableMapping[str, str], role: str, min_allocation_mb: int) -> int:
    """Memory YARN must grant one container of ``role`` (``executor``, ``driver`` or ``am``), rounded as YARN does."""
    if role == "am":
        heap = memory_mb(conf.get("spark.yarn.am.memory", "512m"))
        overhead_key, factor = "spark.yarn.am.memoryOverhead", 0.10
        minimum = 384
    else:
        heap = memory_mb(conf.get(f"spark.{role}.memory", "1g"))
        overhead_key = f"spark.{role}.memoryOverhead"
        factor = float(conf.get(f"spark.{role}.memoryOverheadFactor", "0.10"))
        minimum = memory_mb(conf.get(f"spark.{role}.minMemoryOverhead", "384m"))
    overhead = memory_mb(conf[overhead_key]) if overhead_key in conf else max(int(heap * factor), minimum)
    total = heap + overhead
    if role == "executor" and "spark.executor.pyspark.memory" in conf:
        total += memory_mb(conf["spark.executor.pyspark.memory"])
    step = max(min_allocation_mb, 1)
    return -(-total // step) * step


def _leaf_queues(node: Any) -> dict[str, dict[str, Any]]:
    """Leaf queues of a ``/scheduler`` answer (Capacity or Fair scheduler), by short name and by path."""
    found: dict[str, dict[str, Any]] = {}
    if isinstance(node, dict):
        children = node.get("queues") or node.get("childQueues")
        if "queueName" in node and not children:
            found[node["queueName"].rsplit(".", 1)[-1]] = node
            found[node.get("queuePath") or node["queueName"]] = node
        for value in node.values():
            found.update(_leaf_queues(value))
    elif isinstance(node, list):
        for value in node:
            found.update(_leaf_queues(value))
    return found


def _check_queue(cluster: YarnCluster, conf: MutableMapping[str, str]) -> None:
    """``spark.yarn.queue`` must name a running leaf queue (YARN would reject the application)."""
    queue = conf.get("spark.yarn.queue", "default")
    try:
        leaves = _leaf_queues(cluster.rest("scheduler").get("scheduler"))
    except (OSError, ValueError):
        return  # the scheduler page is optional: YARN itself will judge the queue
    if not leaves:
        return
    names = sorted({q["queueName"].rsplit(".", 1)[-1] for q in leaves.values()})
    if queue not in leaves:
        raise HadoopError(
            f"YARN at {cluster.resourcemanager_http} has no queue '{queue}' (spark.yarn.queue)",
            f"use one of its queues: {', '.join(names)}",
        )
    state = leaves[queue].get("state", "RUNNING")
    if state != "RUNNING":
        raise HadoopError(
            f"YARN queue '{queue}' at {cluster.resourcemanager_http} is {state} and accepts no applications",
            f"ask the cluster's admins, or use another queue: {', '.join(names)}",
        )


def _check_fits(cluster: YarnCluster, conf: MutableMapping[str, str]) -> None:
    """The application master and one executor must fit on the NodeManagers, or YARN waits forever."""
    nodes = (cluster.rest("nodes?states=RUNNING").get("nodes") or {}).get("node") or []
    if not nodes:
        raise HadoopError(
            f"YARN at {cluster.resourcemanager_http} has no running NodeManager",
            "check the cluster (mlp hadoop status); nothing can be scheduled until a node registers",
        )
    capacities = sorted((int(n["usedMemoryMB"]) + int(n["availMemoryMB"]) for n in nodes), reverse=True)
    cluster_mode = conf.get("spark.submit.deployMode", "client") == "cluster"
    am_role = "driver" if cluster_mode else "am"
    am = container_mb(conf, am_role, cluster.min_allocation_mb)
    executor = container_mb(conf, "executor", cluster.min_allocation_mb)
    free = list(capacities)
    placed = True
    for need in (am, executor):
        slot = next((i for i, cap in enumerate(free) if cap >= need), None)
        if slot is None:
            placed = False
            break
        free[slot] -= need
    if not placed:
        am_key = "spark.driver.memory" if cluster_mode else "spark.yarn.am.memory"
        raise HadoopError(
            f"YARN at {cluster.resourcemanager_http} cannot grant this job's containers: the application master needs "
            f"{am} MB ({am_key} + overhead) and each executor {executor} MB (spark.executor.memory "
            f"{conf.get('spark.executor.memory', '1g')} + overhead), but the NodeManagers offer "
            f"{', '.join(f'{c} MB' for c in capacities)}",
            "lower spark.executor.memory / spark.driver.memory (--spark-conf KEY=VALUE) or use a larger cluster",
        )


# ---------------------------------------------------------------- cached uploads


class _Cache:
    """Content-addressed files on HDFS: ``<root>/<sha12>/<name>``, uploaded once."""

    def __init__(self, settings: Settings, cluster: YarnCluster) -> None:
        self.user = settings.hdfs_user or current_actor()
        self.settings = settings.model_copy(
            update={
                "webhdfs_url": settings.webhdfs_url or cluster.namenode_http,
                "hdfs_user": self.user,
            }
        )
        self.root = f"{cluster.fs_default}/user/{self.user}/.mlp/cache"
        self.uploaded: list[str] = []

    def publish(self, local: Path, sha: str | None = None, unique_name: bool = False) -> str:
        """Upload ``local`` unless present; ``unique_name`` puts the hash in the file name too."""
        sha12 = (sha or files.sha256_file(local))[:12]
        uri = f"{self.root}/{sha12}/{f'{sha12}-' if unique_name else ''}{local.name}"
        if not storage.exists(uri, self.settings):
            log.info("uploading %s (%.1f MB) to %s", local.name, local.stat().st_size / 1e6, uri)
            storage.put(local, uri, self.settings)
            self.uploaded.append(uri)
        return uri

    def exists(self, uri: str) -> bool:
        return storage.exists(uri, self.settings)


def _spark_jars_zip(settings: Settings) -> tuple[Path, str]:
    """Spark's jars as one stored zip (fixed timestamps, so equal jars give equal bytes) and its sha256.

    Built once per set of jars (names, sizes, mtimes) under ``<jars_dir>/spark-yarn-archive``.
    """

    jars = sorted((pyspark_home() / "jars").glob("*.jar"))
    fingerprint = hashlib.sha256()
    for jar in jars:
        stat = jar.stat()
        fingerprint.update(f"{jar.name} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    folder = Path(settings.jars_dir) / "spark-yarn-archive"
    target = folder / f"spark-jars-{fingerprint.hexdigest()[:16]}.zip"
    sha_file = target.with_suffix(".sha256")
    if target.is_file() and sha_file.is_file():
        return target, sha_file.read_text().strip()
    log.info("zipping Spark's %d jars for spark.yarn.archive", len(jars))
    with files.replacing(target) as partial:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as zf:
            for jar in jars:
                info = zipfile.ZipInfo(jar.name, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                with open(jar, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        dst.write(block)
        sha = files.sha256_file(partial)
    files.write_atomic(sha_file, sha + "\n")
    return target, sha


def _pyspark_archives() -> list[Path]:

    lib = pyspark_home() / "python" / "lib"
    found = sorted(lib.glob("pyspark.zip")) + sorted(lib.glob("py4j-*-src.zip"))
    if len(found) != 2:
        raise HadoopError(
            f"pyspark's Python archives (pyspark.zip, py4j-*-src.zip) are missing in {lib}",
            "reinstall pyspark (scripts/setup)",
        )
    return found


def _uris(value: str) -> Iterable[tuple[str, str]]:
    """(uri, as written) for each entry of a comma list, without ``#alias`` fragments."""
    for item in (v.strip() for v in value.split(",")):
        if item:
            yield item.split("#", 1)[0], item


def _cached_uris(cache: _Cache, value: str) -> str:
    """A comma list with every local file replaced by its cached copy on HDFS (``#alias`` kept).

    Cached names carry the content hash: Spark refuses two files of one name (every
    environment archive is ``env.tar.gz``), whatever their aliases.
    """
    out = []
    for uri, written in _uris(value):
        if "://" in uri and not uri.startswith("file:"):
            out.append(written)
        else:
            out.append(cache.publish(Path(storage.local_path(uri)), unique_name=True) + written[len(uri) :])
    return ",".join(out)


# ---------------------------------------------------------------- submit


def is_yarn(conf_or_argv: MutableMapping[str, str] | list[str]) -> bool:
    """True for a conf with ``spark.master yarn`` or a spark-submit argv with ``--master yarn``."""
    if isinstance(conf_or_argv, list):
        argv = conf_or_argv
        return any(a == "--master" and i + 1 < len(argv) and argv[i + 1].startswith("yarn") for i, a in enumerate(argv))
    return str(conf_or_argv.get("spark.master", "")).startswith("yarn")


def prepare(settings: Settings, conf: MutableMapping[str, str], profile: str = "yarn") -> dict[str, str]:
    """Check the cluster and the job's files, publish the cached archives; update ``conf`` in place.

    Returns:
        Environment variables for spark-submit (``HADOOP_CONF_DIR``, ``PYSPARK_ARCHIVES_PATH``).

    Raises:
        HadoopError: no cluster / not answering, an ``hdfs://`` file missing, containers that
            cannot fit.
    """
    conf_dir = resolve_conf_dir(settings, profile)
    cluster = YarnCluster.from_conf_dir(conf_dir)
    cluster.check_alive()
    cache = _Cache(settings, cluster)

    for key in _FILE_KEYS:
        for uri, written in _uris(conf.get(key, "")):
            if uri.startswith("hdfs://") and not cache.exists(uri):
                raise HadoopError(
                    f"{key} names {written}, which does not exist on HDFS",
                    "publish it first (for an environment: mlp env build NAME with artifacts on hdfs://), "
                    "or fix the URI",
                )
    _check_queue(cluster, conf)
    _check_fits(cluster, conf)

    if "spark.yarn.archive" not in conf and "spark.yarn.jars" not in conf:
        archive, sha = _spark_jars_zip(settings)
        conf["spark.yarn.archive"] = cache.publish(archive, sha)
    for key in ("spark.jars", "spark.archives"):
        if conf.get(key):
            conf[key] = _cached_uris(cache, conf[key])
    tags = [t for t in conf.get("spark.yarn.tags", "").split(",") if t]
    conf["spark.yarn.tags"] = ",".join(tags + [f"{TAG_PREFIX}{uuid.uuid4().hex[:16]}"])
    conf.setdefault(ACCEPT_TIMEOUT_CONF, str(int(_DEFAULT_ACCEPT_TIMEOUT)))
    env = {
        "HADOOP_CONF_DIR": str(conf_dir),
        "PYSPARK_ARCHIVES_PATH": ",".join(cache.publish(p) for p in _pyspark_archives()),
    }
    if cache.uploaded:
        log.info("uploaded %d cached file(s) to %s", len(cache.uploaded), cache.root)
    return env


def _conf_from_argv(argv: list[str]) -> dict[str, str]:
    out = {}
    for i, arg in enumerate(argv[:-1]):
        if arg == "--conf":
            key, _, value = argv[i + 1].partition("=")
            out[key] = value
        elif arg == "--deploy-mode":
            out["spark.submit.deployMode"] = argv[i + 1]
    return out


class _Watch(threading.Thread):
    """Polls the ResourceManager for the tagged application; kills it when YARN cannot schedule it."""

    def __init__(self, cluster: YarnCluster, tag: str, accept_timeout: float, proc: subprocess.Popen[bytes]) -> None:
        super().__init__(name="mlp-yarn-watch", daemon=True)
        self.cluster, self.tag, self.accept_timeout, self.proc = cluster, tag, accept_timeout, proc
        self.app: dict[str, Any] | None = None
        self.unschedulable: dict[str, Any] | None = None
        self.stopped = threading.Event()

    def run(self) -> None:
        accepted_since: float | None = None
        while not self.stopped.wait(1.0):
            try:
                app = self.cluster.application(self.tag)
            except (OSError, ValueError):
                continue
            if app is None:
                continue
            if self.app is None:
                log.info(
                    "YARN application %s (%s) in queue %s: %s/cluster/app/%s",
                    app["id"],
                    app.get("name"),
                    app.get("queue"),
                    self.cluster.resourcemanager_http,
                    app["id"],
                )
            self.app = app
            if app["state"] in _FINISHED:
                return
            if app["state"] != "ACCEPTED" or _am_launched(app):
                accepted_since = None  # running, or its AM is starting (localizing a large archive takes time)
                continue
            accepted_since = accepted_since or time.monotonic()
            if time.monotonic() - accepted_since > self.accept_timeout:
                self.unschedulable = app
                self.cluster.kill(app["id"], app.get("user") or current_actor())
                time.sleep(2)
                if self.proc.poll() is None:
                    self.proc.send_signal(signal.SIGTERM)
                return


def _am_launched(app: dict[str, Any]) -> bool:
    """Whether YARN gave the application its AM container (then it is scheduled, though still ACCEPTED)."""
    return bool(app.get("amContainerLogs") or app.get("amHostHttpAddress"))


def _logs_hint(app_id: str, conf_dir: Path) -> str:

    if minicluster.serves(conf_dir):
        return f"logs: mlp hadoop logs {app_id}"
    return f"logs: yarn logs -applicationId {app_id}"


def _diagnostics(app: dict[str, Any]) -> str:
    text = " ".join((app.get("diagnostics") or "").split())
    return text[:800] or "no diagnostics"


def run(command: "SubmitCommand", output: IO[str] | None = None) -> int:
    """Run a spark-submit line for YARN and report what happened to its application.

    ``output``: where spark-submit's stdout and stderr go (default: this process's).

    Returns:
        0 when spark-submit succeeded.

    Raises:
        HadoopError: the application was never scheduled (YARN's diagnostics) or it
            failed (final status, diagnostics and where the logs are).
    """
    conf = _conf_from_argv(command.argv)
    tag = next((t for t in conf.get("spark.yarn.tags", "").split(",") if t.startswith(TAG_PREFIX)), None)
    conf_dir = Path(command.env.get("HADOOP_CONF_DIR") or os.environ.get("HADOOP_CONF_DIR", "."))
    sys.stdout.flush()
    proc = subprocess.Popen(
        command.argv, env=command.full_env(), stdout=output, stderr=subprocess.STDOUT if output else None
    )
    watch = None
    if tag is not None:
        cluster = YarnCluster.from_conf_dir(conf_dir)
        watch = _Watch(cluster, tag, float(conf.get(ACCEPT_TIMEOUT_CONF, _DEFAULT_ACCEPT_TIMEOUT)), proc)
        watch.start()
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        code = proc.wait()
    if watch is None:
        return code
    watch.stopped.set()
    watch.join(timeout=5)
    if watch.unschedulable is not None:
        app = watch.unschedulable
        raise HadoopError(
            f"YARN did not schedule application {app['id']} ({app.get('name')}) in queue '{app.get('queue')}' within "
            f"{watch.accept_timeout:.0f} s, so it was killed; YARN says: {_diagnostics(app)}",
            "ask for less memory or fewer cores, use another queue (spark.yarn.queue), or wait for the cluster "
            f"to free up (raise {ACCEPT_TIMEOUT_CONF})",
        )
    try:
        app = watch.cluster.application(tag) or watch.app
    except (OSError, ValueError):
        app = watch.app
    if code == 0:
        if app is not None:
            log.info(
                "YARN application %s (%s) ended %s / %s",
                app["id"],
                app.get("name"),
                app.get("state"),
                app.get("finalStatus"),
            )
        return 0
    if app is None:
        raise HadoopError(
            f"spark-submit exited with code {code} before YARN accepted the application",
            "see spark-submit's message above",
        )
    hint = _logs_hint(app["id"], conf_dir)
    if app.get("finalStatus") in ("FAILED", "KILLED"):
        raise HadoopError(
            f"application {app['id']} ({app.get('name')}) ended {app.get('state')} with final status "
            f"{app.get('finalStatus')} (spark-submit exit code {code}); YARN says: {_diagnostics(app)}",
            hint,
        )
    raise HadoopError(
        f"the driver of application {app['id']} ({app.get('name')}) exited with code {code} while YARN reports "
        f"{app.get('state')} / {app.get('finalStatus')}: in client mode the driver runs on this machine, so its "
        "error is printed above",
        hint,
    )
