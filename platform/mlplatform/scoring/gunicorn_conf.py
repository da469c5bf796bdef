"""gunicorn settings of the scoring image, copied into the build context as ``gunicorn.conf.py``.

The same file serves the Docker image and ``mlp serve``; both set it up through
environment variables only:

========================  =============================================  ==========
variable                  meaning                                        default
========================  =============================================  ==========
``MLP_HOST``              address to bind                                ``0.0.0.0``
``MLP_PORT``              port to bind                                   ``8080``
``MLP_WORKERS``           worker processes                               usable CPUs
``MLP_THREADS``           threads per worker (``gthread`` when > 1)      ``4``
``MLP_TIMEOUT``           seconds before a silent worker is restarted    ``30``
``MLP_MAX_BODY_BYTES``    request body limit (read by the app)           8 MiB
``MLP_ACCESS_LOG``        ``1`` to log every request to stdout           off
``MLP_METRICS_DIR``       where workers share their ``/metrics`` totals  a fresh temp dir
``MLP_LOG_SAMPLE``        share of requests kept in the inference log    ``0`` (off)
``MLP_LOG_DIR``           the inference log's spool folder               temp dir
========================  =============================================  ==========

The master prepares the metrics folder before it loads the app and forks (a folder it
made is removed at exit; a given one is emptied, so counts start at zero with the server),
and when a worker dies it rotates the worker's open inference log file so that the file
can be ingested (``mlp_inference_spool.close_orphans``). The server's docstring lists the
remaining ``MLP_LOG_*`` and ``MLP_METRICS_*`` settings.

Each worker scores with one OpenMP/BLAS thread unless ``OMP_NUM_THREADS`` is set:
workers, not threads inside one prediction, use the cores. Threaded (``gthread``)
workers keep client connections alive; gunicorn's ``sync`` workers (``MLP_THREADS=1``)
close the connection after every response, which cost 3-5x the throughput at
concurrency 8 on loopback here (see scripts/bench/online_scoring.py).
"""

import glob
import os
import shutil
import tempfile

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

bind = f"{os.environ.get('MLP_HOST', '0.0.0.0')}:{os.environ.get('MLP_PORT', '8080')}"
workers = int(os.environ.get("MLP_WORKERS") or len(os.sched_getaffinity(0)) or 1)
threads = int(os.environ.get("MLP_THREADS") or 4)
timeout = int(os.environ.get("MLP_TIMEOUT") or 30)
graceful_timeout = 10
keepalive = 5
accesslog = "-" if os.environ.get("MLP_ACCESS_LOG") == "1" else None
proc_name = "mlp-scoring"
# Load the model once in the master, then fork: workers start ready and share its pages.
preload_app = True
# No runtime control socket: several servers may run side by side under one user.
control_socket_disable = True
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# The metrics folder, before the app is loaded (preload) and the workers fork; kept across a reload (HUP).
if os.environ.get("MLP_METRICS_DIR_OWNER") != str(os.getpid()):
    if os.environ.get("MLP_METRICS_DIR"):
        for _stale in glob.glob(os.path.join(glob.escape(os.environ["MLP_METRICS_DIR"]), "worker-*.json")):
            os.unlink(_stale)
    else:
        os.environ["MLP_METRICS_DIR"] = tempfile.mkdtemp(prefix="mlp-metrics-")
        os.environ["MLP_METRICS_DIR_MADE"] = "1"
    os.environ["MLP_METRICS_DIR_OWNER"] = str(os.getpid())


def child_exit(server, worker):  # noqa: ANN001 - gunicorn's hook signature
    """A worker is gone (exited or killed): rotate its open inference log file."""
    if os.environ.get("MLP_LOG_SAMPLE"):
        try:
            import mlp_inference_spool as spool
        except ImportError:  # run from the package rather than an exported context
            from mlplatform.scoring import inference_spool as spool
        spool.close_orphans(spool.spool_dir(), worker.pid)


def on_exit(server):  # noqa: ANN001 - gunicorn's hook signature
    """Remove the metrics folder the master made."""
    if os.environ.get("MLP_METRICS_DIR_MADE") == "1":
        shutil.rmtree(os.environ["MLP_METRICS_DIR"], ignore_errors=True)
