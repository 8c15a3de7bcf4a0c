"""gunicorn settings for aichat: `gunicorn -c gunicorn.conf.py wsgi:app`.

gevent workers: a chat stream lasts seconds and mostly waits on upstream, so each worker
holds thousands of them as greenlets instead of one thread each.
"""
import os

bind = os.environ.get("AICHAT_BIND", "127.0.0.1:5000")
worker_class = "gevent"
workers = int(os.environ.get("AICHAT_WORKERS", "2"))
# Concurrent connections (streams included) per worker.
worker_connections = int(os.environ.get("AICHAT_WORKER_CONNECTIONS", "4000"))
# With gevent this is a heartbeat deadline, not a per-request limit: long streams are fine.
timeout = 60
# On SIGTERM, streams in flight get this long to finish before workers are stopped.
graceful_timeout = int(os.environ.get("AICHAT_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
backlog = 4096


def worker_exit(server, worker):
    """Write the usage rows still queued before the worker goes away."""
    recorder = getattr(worker.wsgi, "extensions", {}).get("aichat.usage")
    if recorder is not None:
        recorder.close(timeout=10)

# One shared control socket per user would clash between several instances on one host.
control_socket_disable = True


def post_worker_init(worker):
    """Give httpcore's idle-connection probe the real poll(2).

    Before each request the upstream pool probes every idle connection with a zero-timeout
    poll. That never blocks, but gevent's cooperative poll builds watchers on the hub for
    it: with dozens of pooled connections this cost more CPU than the request itself.
    """
    import select
    import types

    import httpcore2._utils
    from gevent import monkey

    httpcore2._utils.select = types.SimpleNamespace(
        poll=monkey.get_original("select", "poll"), select=monkey.get_original("select", "select"),
        POLLIN=select.POLLIN)


# Prometheus multiprocess mode: each worker writes its metric values to files in one directory
# and /metrics adds them up. The variable must be set before any worker imports prometheus_client.
_metrics_dir_made = None  # the private directory this server start made, removed on exit


def on_starting(server):
    """Give the workers a metrics directory: a fresh private one, or the one set, emptied.

    Files left by an earlier run would be added to this run's counts.
    """
    import glob
    import tempfile

    global _metrics_dir_made
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in glob.glob(os.path.join(path, "*.db")):
            os.remove(name)
    else:
        path = _metrics_dir_made = tempfile.mkdtemp(prefix="aichat-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path


def child_exit(server, worker):
    """A dead worker's live gauges (streams in flight, circuits) stop counting; its counters stay."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    import shutil

    if _metrics_dir_made:
        shutil.rmtree(_metrics_dir_made, ignore_errors=True)
