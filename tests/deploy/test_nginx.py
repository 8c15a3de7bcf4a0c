"""deploy/nginx-aichat.conf: valid for nginx, and SSE streams pass through it unbuffered."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, require_service, usage_rows
from tests.fakes import free_port

SITE = ROOT / "deploy" / "nginx-aichat.conf"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "suggestions": False}


def _nginx() -> str:
    path = shutil.which("nginx") or "/usr/sbin/nginx"
    require_service(os.access(path, os.X_OK), "nginx is not installed (`make test` installs nginx-light)")
    return path


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1."""
    require_service(shutil.which("openssl") is not None, "openssl is not installed")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"the site no longer has {old!r}; update this test with it"
    return text.replace(old, new)


class Nginx:
    """The site inside a minimal nginx.conf under a temporary prefix, on free loopback ports."""

    def __init__(self, prefix: Path, upstream_port: int, extra: str = ""):
        self.binary = _nginx()
        self.prefix = prefix
        self.http_port, self.https_port = free_port(), free_port()
        self.cert, key = _certificate(prefix)
        site = SITE.read_text()
        site = "\n".join(line for line in site.splitlines() if "listen [::]" not in line)  # IPv4 is enough here
        site = _replace(site, "listen 80;", f"listen 127.0.0.1:{self.http_port};")
        site = _replace(site, "listen 443 ssl http2;", f"listen 127.0.0.1:{self.https_port} ssl http2;")
        site = _replace(site, "/etc/letsencrypt/live/chat.example.com/fullchain.pem", str(self.cert))
        site = _replace(site, "/etc/letsencrypt/live/chat.example.com/privkey.pem", str(key))
        site = _replace(site, "/var/log/nginx/aichat.access.log", str(prefix / "aichat.access.log"))
        site = _replace(site, "server 127.0.0.1:5000;", f"server 127.0.0.1:{upstream_port};")
        if extra:
            site = _replace(site, "        proxy_pass http://aichat;\n", f"        proxy_pass http://aichat;\n{extra}\n")
        (prefix / "site.conf").write_text(site)
        user = "user root root;\n" if os.geteuid() == 0 else ""  # workers read the temp prefix
        temps = "".join(f"    {name}_temp_path {prefix}/{name}_temp;\n"
                        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (prefix / "nginx.conf").write_text(
            f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
            f"events {{ worker_connections 256; }}\n"
            f"http {{\n    access_log {prefix}/access.log;\n{temps}    include {prefix}/site.conf;\n}}\n")
        self.proc: subprocess.Popen | None = None

    def command(self, *args: str) -> list[str]:
        return [self.binary, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"),
                "-e", str(self.prefix / "error.log"), *args]

    def test_config(self) -> subprocess.CompletedProcess:
        return subprocess.run(self.command("-t"), capture_output=True, text=True)

    def start(self) -> str:
        self.proc = subprocess.Popen(self.command("-g", "daemon off;"), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        base = f"https://127.0.0.1:{self.https_port}"
        for _ in range(100):  # up to 10 s
            try:
                requests.get(base + "/health", verify=str(self.cert), timeout=1)
                return base
            except requests.ConnectionError:
                time.sleep(0.1)
        pytest.fail("nginx did not start: " + (self.prefix / "error.log").read_text(errors="replace")[-2000:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def nginx(tmp_path):
    """nginx(upstream_port, extra_location_lines="") → a configured, not yet started Nginx; stopped afterwards."""
    servers = []

    def make(upstream_port: int, extra: str = "") -> Nginx:
        prefix = tmp_path / f"nginx{len(servers)}"
        prefix.mkdir()
        server = Nginx(prefix, upstream_port, extra)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def test_the_site_passes_nginx_t(nginx):
    """Is the site valid nginx configuration (inside a minimal nginx.conf, on unprivileged ports)?"""
    result = nginx(5000).test_config()
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@pytest.mark.parametrize("extra", ["", "        proxy_ignore_headers X-Accel-Buffering;"],
                         ids=["as-shipped", "without-the-apps-X-Accel-Buffering-hint"])
def test_a_stream_through_nginx_reaches_the_client_before_upstream_has_finished(serve_gunicorn, fake_openai, nginx,
                                                                                 extra):
    """nginx → gunicorn → fake upstream: does the client have the first delta while the upstream has not yet
    sent its last one? The second case ignores the app's X-Accel-Buffering header: the site alone must not buffer."""
    server = serve_gunicorn(AICHAT_TRUSTED_PROXIES=1)
    proxy = nginx(int(server.base.rsplit(":", 1)[1]), extra)
    base = proxy.start()
    words = 20
    fake_openai.plan(text=" ".join(f"w{i}" for i in range(words)), chunk_interval=0.2)
    with requests.post(base + "/api/v1/ai-proxy/chat", json={**BODY, "stream": True}, stream=True, timeout=30,
                       verify=str(proxy.cert), headers={"X-Request-ID": "through-nginx-1"}) as resp:
        assert resp.status_code == 200 and resp.headers["X-Request-ID"] == "through-nginx-1"
        lines = resp.iter_lines(decode_unicode=True)
        for line in lines:
            if line == "event: delta":
                break
        upstream = fake_openai.streams[-1]
        assert not upstream.completed and upstream.chunks_sent < words, \
            "the first delta arrived only after upstream had finished: something buffered the stream"
        rest = list(lines)
    assert "event: done" in rest
    rows = usage_rows(server.reader, at_least=1)
    assert [(r["request_id"], r["status"], r["completion_tokens"]) for r in rows] == [("through-nginx-1", "success", words)]


def test_nginx_gives_a_request_id_keeps_metrics_inside_and_redirects_http(serve_gunicorn, fake_openai, nginx):
    """Without X-Request-ID, does the answer carry nginx's id? Is /metrics refused from outside while gunicorn
    still serves it on loopback? Does plain HTTP redirect to HTTPS?"""
    server = serve_gunicorn(AICHAT_TRUSTED_PROXIES=1)
    proxy = nginx(int(server.base.rsplit(":", 1)[1]))
    base = proxy.start()
    resp = requests.post(base + "/api/v1/ai-proxy/chat", json=BODY, timeout=10, verify=str(proxy.cert))
    assert resp.status_code == 200 and re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-ID"])
    logged = f"rid={resp.headers['X-Request-ID']}"
    for _ in range(50):  # nginx writes its log line just after the answer (bounded: 5 s)
        if logged in (proxy.prefix / "aichat.access.log").read_text():
            break
        time.sleep(0.1)
    assert logged in (proxy.prefix / "aichat.access.log").read_text(), "nginx's log line has the same id"
    assert requests.get(base + "/metrics", timeout=10, verify=str(proxy.cert)).status_code == 404
    assert requests.get(server.base + "/metrics", timeout=10).status_code == 200
    redirect = requests.get(f"http://127.0.0.1:{proxy.http_port}/health", allow_redirects=False, timeout=10)
    assert redirect.status_code == 301 and redirect.headers["Location"].startswith("https://")
