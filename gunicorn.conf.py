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
    """Drain on SIGTERM; give httpcore the real poll(2)."""
    _drain_on_sigterm(worker)
    _real_poll()


def _drain_on_sigterm(worker):
    """SIGTERM: gunicorn stops accepting and waits for requests in flight; the app starts draining.

    Streams may run until AICHAT_STOP_DEADLINE (kept below the graceful timeout), then each one
    still open ends with a `server_shutting_down` error event and has its usage row written, so
    the worker exits by itself (0) with every row flushed instead of being killed at the timeout.
    """
    import signal

    lifecycle = getattr(worker.wsgi, "extensions", {}).get("aichat.lifecycle")
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
