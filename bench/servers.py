"""Start and stop the servers under test: fake upstream, aichat and the bare relay under gunicorn, LiteLLM proxy."""
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import proctree

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "bench")
VENV_BIN = os.path.dirname(sys.executable)
LITELLM_BIN = os.path.join(BENCH, ".venv-litellm", "bin")


class StartError(Exception):
    """A server did not come up; the message carries the tail of its log."""


def free_port():
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# Niceness given to each server's session (see prioritise); set once by bench.py's --nice.
NICE = 0


def prioritise(pid, nice):
    """Give the session that `pid` leads `nice` against the other work on the machine.

    With autogroup scheduling (the Linux default) the CPU is shared between sessions first and
    niceness only counts inside a session: a server in its own session is weighed by its
    session's niceness (/proc/PID/autogroup; lowering it needs root). Without autogroup, the
    process's own niceness is what counts, and its children inherit it.
    """
    try:
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write(str(nice))
    except OSError:
        os.setpriority(os.PRIO_PROCESS, pid, nice)


class Server:
    """A child process we started, its port and its log; stopped by pid only."""

    def __init__(self, name, argv, port, log, env=None, cpus=None):
        self.name, self.port, self.log = name, port, log
        self._logf = open(log, "ab")
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=self._logf, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        self.pid = self.proc.pid
        if NICE:
            prioritise(self.pid, NICE)

    def wait_ready(self, probe, timeout):
        """Poll `probe()` until it is true; raise StartError with the log tail if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError(f"{self.name} exited with {self.proc.returncode}:\n{_tail(self.log)}")
            if probe():
                return self
            time.sleep(0.2)
        self.stop()
        raise StartError(f"{self.name} not ready after {timeout:.0f}s:\n{_tail(self.log)}")

    def wait_workers(self, count, timeout=30):
        """Wait until gunicorn's `count` workers have booted (a first answer may come from the first alone)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(proctree.tree(self.pid)) < count + 1:
            time.sleep(0.2)
        return self

    def stop(self):
        """SIGTERM our own child (gunicorn and uvicorn pass it on to their workers); SIGKILL its tree if it lingers."""
        if self.proc.poll() is None:
            family = proctree.tree(self.pid)  # our child and its workers, by pid, taken before they go
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                for pid in family:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.wait()
        self._logf.close()


def _http_ok(port, path, key=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _log_says(path, text):
    try:
        with open(path, errors="replace") as f:
            return text in f.read()
    except OSError:
        return False


def start_fake(tmp, module, delay_ms=0, chunk_interval=0.0, chunks=None, cpus=None):
    """The fake OpenAI upstream in its own process, so its CPU is never counted as the gateway's."""
    port = free_port()
    argv = [sys.executable, "-m", module, "openai", "--port", str(port),
            "--delay-ms", str(delay_ms), "--chunk-interval", str(chunk_interval)]
    if chunks:
        argv += ["--chunks", str(chunks)]
    log = os.path.join(tmp, f"fake-{port}.log")
    s = Server(f"fake upstream ({module})", argv, port, log, cpus=cpus)
    return s.wait_ready(lambda: _log_says(log, "listening on http://127.0.0.1:"), 30)


def aichat_env(tmp, fake_port, database_url, workers=None):
    """Environment for aichat: one OpenAI provider pointing at the fake, a client key, no rate limit in the way."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url or f"sqlite:///{tmp}/bench.db",
        OPENAI_API_KEY="sk-bench",
        OPENAI_BASE_URL=f"http://127.0.0.1:{fake_port}/v1",
        OPENAI_MODEL="gpt-4o-mini",
        GEMINI_API_KEY="",
        AICHAT_PROVIDER_ORDER="openai",
        AICHAT_API_KEYS="bench-key",
        AICHAT_RATE_LIMIT="1000000/minute",
        SECRET_KEY="bench",
    )
    if workers:
        env["AICHAT_WORKERS"] = str(workers)
    return env


def aichat_present():
    """Whether the gateway's entry points exist yet."""
    return all(os.path.exists(os.path.join(REPO, f)) for f in ("gunicorn.conf.py", "wsgi.py"))


def migrate(tmp, env):
    """`flask db upgrade` once per database; raise StartError with its output on failure."""
    r = subprocess.run([os.path.join(VENV_BIN, "flask"), "--app", "wsgi", "db", "upgrade"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    if r.returncode:
        raise StartError(f"flask db upgrade failed:\n{(r.stdout + r.stderr)[-1500:]}")


def start_aichat(tmp, env, cpus=None, workers=1):
    """aichat under gunicorn with the repository's gunicorn.conf.py; ready when /health answers."""
    port = free_port()
    argv = [os.path.join(VENV_BIN, "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app", "--bind", f"127.0.0.1:{port}"]
    s = Server("aichat (gunicorn)", argv, port, os.path.join(tmp, f"aichat-{port}.log"), env=env, cpus=cpus)
    # /v1/models is the fallback readiness probe for builds without /health.
    s.wait_ready(lambda: _http_ok(port, "/health") or _http_ok(port, "/v1/models", "bench-key"), 60)
    return s.wait_workers(workers)


def gunicorn_sizes(env):
    """aichat's workers, connections per worker, backlog and keep-alive as gunicorn.conf.py sets them for `env`."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        conf = runpy.run_path(os.path.join(REPO, "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {k: conf[k] for k in ("workers", "worker_connections", "backlog", "keepalive")}


# The relay serves JSON with threads; 16 per worker lets two workers take all 32 of the c=32 phase at once.
RELAY_THREADS = 16


def start_relay(tmp, worker_class, fake_port, sizes, cpus=None):
    """The bare Flask relay (bench/relay.py) under gunicorn's gevent or gthread worker, sized like aichat."""
    port = free_port()
    env = dict(os.environ, RELAY_UPSTREAM=f"http://127.0.0.1:{fake_port}")
    argv = [os.path.join(VENV_BIN, "gunicorn"), "--chdir", BENCH, "-k", worker_class, "relay:app",
            "--bind", f"127.0.0.1:{port}", "--workers", str(sizes["workers"]), "--backlog", str(sizes["backlog"]),
            "--keep-alive", str(sizes["keepalive"]), "--worker-connections", str(sizes["worker_connections"])]
    if worker_class == "gthread":
        argv += ["--threads", str(RELAY_THREADS)]
    s = Server(f"relay ({worker_class})", argv, port, os.path.join(tmp, f"relay-{port}.log"), env=env, cpus=cpus)
    s.wait_ready(lambda: _http_ok(port, "/v1/models"), 30)
    return s.wait_workers(sizes["workers"])


def litellm_version():
    """Installed LiteLLM version, or None when bench/setup-litellm.sh has not been run."""
    py = os.path.join(LITELLM_BIN, "python")
    if not os.path.exists(py):
        return None
    r = subprocess.run([py, "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                       capture_output=True, text=True)
    return r.stdout.strip() or None


def start_litellm(tmp, fakes, workers=1, cpus=None):
    """LiteLLM's proxy (its CLI, uvicorn, one worker, no database) routed to the fakes by model name.

    One LiteLLM process serves every phase because it takes ~15 s to start;
    `fakes` maps "fast"/"slow"/"stream" to fake ports (see litellm.yaml).
    """
    port = free_port()
    env = dict(os.environ)
    env.update({f"BENCH_FAKE_{k.upper()}": f"http://127.0.0.1:{p}/v1" for k, p in fakes.items()})
    env.update(
        # No network here: use the bundled price map instead of fetching it on start.
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        LITELLM_LOG="ERROR",
        LITELLM_TELEMETRY="False",
        LITELLM_MODE="PRODUCTION",
    )
    argv = [os.path.join(LITELLM_BIN, "litellm"), "--config", os.path.join(BENCH, "litellm.yaml"),
            "--host", "127.0.0.1", "--port", str(port), "--num_workers", str(workers)]
    s = Server("LiteLLM proxy", argv, port, os.path.join(tmp, f"litellm-{port}.log"), env=env, cpus=cpus)
    # /health/liveliness is LiteLLM's cheap probe; its /health calls every model.
    return s.wait_ready(lambda: _http_ok(port, "/health/liveliness"), 120)
