"""gunicorn settings for aichat: `gunicorn -c gunicorn.conf.py wsgi:app`.

gevent workers: a chat stream lasts seconds and mostly waits on upstream, so each worker
holds thousands of them as greenlets instead of one thread each.
"""
import os


def _whole_number(name, default):
    """An integer setting from the environment; a bad one stops the start with its name, not a traceback."""
    value = os.environ.get(name, "").strip() or str(default)
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"gunicorn.conf.py: {name} must be a whole number, got {value!r}") from None


# Loopback by default: nginx (deploy/nginx-aichat.conf) is the public side.
bind = os.environ.get("AICHAT_BIND", "127.0.0.1:5000")
worker_class = "gevent"
# About one per core: each worker holds thousands of streams, so more workers add CPU, not room.
workers = _whole_number("AICHAT_WORKERS", 2)
# Concurrent connections (streams included) per worker; more wait in the listen backlog.
worker_connections = _whole_number("AICHAT_WORKER_CONNECTIONS", 4000)
backlog = 4096
# Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new connections
# over them evenly. On one shared socket whichever worker happened to be awake took them: wrk's 32
# connections split 4/28 and a burst of 1,000 streams 331/689, and the busier worker set the tail.
reuse_port = True
# With gevent this is a heartbeat deadline (a worker stuck this long is restarted), not a
# per-request limit: long streams are fine.
timeout = 60
# After SIGTERM a worker waits this long for requests in flight, then gunicorn kills them. aichat
# ends streams itself at AICHAT_STOP_DEADLINE (kept at least 5 s below this), so workers exit by
# themselves with their usage rows flushed. systemd's TimeoutStopSec must be longer still.
graceful_timeout = _whole_number("AICHAT_GRACEFUL_TIMEOUT", 30)
# An idle keep-alive connection closes after this many seconds; once stopping, after each response.
keepalive = 5
# X-Forwarded-Proto is believed only from these addresses (nginx on this host); the app's client
# address comes from ProxyFix with AICHAT_TRUSTED_PROXIES.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# The app logs one JSON line per request itself (AICHAT_ACCESS_LOG); gunicorn's access log stays off.
accesslog = None
errorlog = "-"


def _runtime(worker):
    """The aichat runtime of the app this worker serves (aichat/runtime.py), or None."""
    return getattr(worker.wsgi, "extensions", {}).get("aichat")


def worker_exit(server, worker):
    """Write the conversation turns and usage rows still queued before the worker goes away; spool the rows that
    cannot be written in time."""
    runtime = _runtime(worker)
    if runtime is not None and runtime.turns is not None:
        lifecycle = runtime.lifecycle
        runtime.turns.close(timeout=lifecycle.flush_budget(5) / 2 if lifecycle is not None else 5)
    if runtime is not None and runtime.recorder is not None:
        recorder, lifecycle = runtime.recorder, runtime.lifecycle
        # Once stopping, gunicorn kills the worker at its graceful timeout: spool before that, not after.
        recorder.close(timeout=lifecycle.flush_budget(10) if lifecycle is not None else 10)

# One shared control socket per user would clash between several instances on one host.
control_socket_disable = True


def post_worker_init(worker):
    """Drain on SIGTERM; give httpcore the real poll(2); start the usage writer and background jobs; keep the
    loaded code out of the collector's way."""
    _drain_on_sigterm(worker)
    _real_poll()
    _start_background(worker)
    _freeze_loaded()


def _start_background(worker):
    """In the forked worker, before its first request: rows spooled by an earlier run are replayed now."""
    runtime = _runtime(worker)
    if runtime is not None and runtime.recorder is not None:
        runtime.recorder.start()


def _freeze_loaded():
    """Move everything loaded so far (modules, the app, the SDKs) out of the cyclic garbage collector's sweeps.

    Those ~160,000 objects live as long as the worker, yet each full collection walked them all:
    about 75 ms of CPU in which the worker served nothing, the tail of every request in flight
    (p99 at 32 concurrent JSON calls 133 ms instead of 156-163 ms).
    """
    import gc

    gc.collect()
    gc.freeze()


def _drain_on_sigterm(worker):
    """SIGTERM: gunicorn stops accepting and waits for requests in flight; the app starts draining."""
    # Streams may run until AICHAT_STOP_DEADLINE (kept below the graceful timeout), then each one
    # still open ends with a `server_shutting_down` error event and has its usage row written, so
    # the worker exits by itself (0) with every row flushed instead of being killed at the timeout.
    import signal

    runtime = _runtime(worker)
    lifecycle = runtime.lifecycle if runtime is not None else None
    if lifecycle is None:
        return
    lifecycle.clamp(worker.cfg.graceful_timeout)
    lifecycle.track_greenlets()
    stop_accepting = signal.getsignal(signal.SIGTERM)  # gunicorn's: the worker is no longer alive

    def on_sigterm(signum, frame):
        stop_accepting(signum, frame)
        lifecycle.begin_drain()

    signal.signal(signal.SIGTERM, on_sigterm)


def _real_poll():
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


def on_starting(server):
    """Give the workers a metrics directory: a fresh private one, or the one set, emptied; learn the platform once."""
    _learn_platform()
    _metrics_dir(server)


def _learn_platform():
    """Read the platform description once in the master, so every worker inherits it.

    The openai SDK puts it in a header of every call, and the first call in a worker would learn
    it by running `uname -p` in a subprocess. Under gevent that waits, so a burst of calls that
    reaches a fresh worker started one subprocess per call (a fork of the whole worker each)
    before the first had finished: 1,000 streams opened at once on fresh workers got their first
    delta at a median 2.2 s instead of 1.3 s.
    """
    import platform

    platform.platform()
    try:
        platform.freedesktop_os_release()
    except OSError:
        pass


def _metrics_dir(server):
    """A fresh private metrics directory, or the one set, emptied."""
    # Files left by an earlier run would be added to this run's counts.
    import glob
    import tempfile

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in glob.glob(os.path.join(path, "*.db")):
            os.remove(name)
    else:
        path = tempfile.mkdtemp(prefix="aichat-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        # Kept on the arbiter, not in this module: a reload (HUP) runs this file again, afresh.
        server.aichat_metrics_dir_made = path


def child_exit(server, worker):
    """A dead worker's live gauges (streams in flight, circuits) stop counting; its counters stay."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the private metrics directory this start made."""
    import shutil

    made = getattr(server, "aichat_metrics_dir_made", None)
    if made:
        shutil.rmtree(made, ignore_errors=True)


def when_ready(server):
    """Say where we listen: with reuse_port each worker binds its own socket, so gunicorn's own line names none."""
    server.log.info("Listening at: http://%s (%d workers, a socket each)", bind, server.num_workers)
