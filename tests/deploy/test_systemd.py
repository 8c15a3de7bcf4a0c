"""deploy/aichat.service and deploy/aichat.env.example: they name what exists and say what production needs."""
from __future__ import annotations

import getpass
import grp
import os
import re
import runpy
import shutil
import subprocess
from collections import defaultdict

from dotenv import dotenv_values

from aichat.config import Defaults, from_environ
from tests.conftest import ROOT, require_service

UNIT = ROOT / "deploy" / "aichat.service"
ENV_EXAMPLE = ROOT / "deploy" / "aichat.env.example"
# Read by gunicorn.conf.py or its libraries rather than by aichat/config.py.
SERVER_SETTINGS = {"DATABASE_URL", "AICHAT_BIND", "AICHAT_WORKER_CONNECTIONS", "AICHAT_GRACEFUL_TIMEOUT",
                   "FORWARDED_ALLOW_IPS", "PROMETHEUS_MULTIPROC_DIR"}


def _unit() -> dict[str, list[str]]:
    """Each `Key=value` of the unit, values in order (keys may repeat)."""
    settings = defaultdict(list)
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings[key.strip()].append(value.strip())
    return settings


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(s|min)?", value)
    assert match, f"unexpected time span {value!r}"
    return int(match[1]) * (60 if match[2] == "min" else 1)


def test_the_unit_runs_gunicorn_from_the_projects_venv_with_files_that_exist():
    unit = _unit()
    folder = unit["WorkingDirectory"][0]
    start = unit["ExecStart"][0].split()
    assert start == [f"{folder}/.venv/bin/gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    assert (ROOT / "gunicorn.conf.py").is_file() and "app = create_app()" in (ROOT / "wsgi.py").read_text()
    assert unit["ExecStartPre"] == [f"{folder}/.venv/bin/flask --app wsgi db upgrade"]
    assert unit["EnvironmentFile"] and unit["EnvironmentFile"][0].startswith("/etc/")


def test_the_unit_stops_gracefully_runs_unprivileged_and_writes_only_the_instance_folder():
    unit = _unit()
    graceful = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["graceful_timeout"]
    assert unit["KillSignal"] == ["SIGTERM"] and unit["KillMode"] == ["mixed"]
    assert _seconds(unit["TimeoutStopSec"][0]) > graceful, "systemd would SIGKILL a stop still within its timeout"
    assert unit["Restart"] == ["on-failure"]
    assert unit["User"][0] not in ("", "root") and unit["Group"][0] not in ("", "root")
    assert unit["NoNewPrivileges"] == ["yes"] and unit["ProtectSystem"] == ["strict"]
    assert unit["ReadWritePaths"] == [f"{unit['WorkingDirectory'][0]}/instance"]
    assert unit["PrivateTmp"] == ["yes"] and unit["CapabilityBoundingSet"] == [""]


def test_systemd_analyze_verifies_the_unit_against_this_checkout(tmp_path):
    """With the paths pointed at this checkout, does `systemd-analyze verify` accept the unit?"""
    require_service(shutil.which("systemd-analyze") is not None,
                    "systemd-analyze is not installed (`make test` installs it with scripts/systemd.sh)")
    env_file = tmp_path / "aichat.env"
    env_file.write_text("AICHAT_ENV=production\n")
    text = UNIT.read_text().replace("/srv/aichat", str(ROOT)).replace("/etc/aichat/aichat.env", str(env_file))
    text = re.sub(r"(?m)^User=.*$", f"User={getpass.getuser()}", text)
    text = re.sub(r"(?m)^Group=.*$", f"Group={grp.getgrgid(os.getgid()).gr_name}", text)
    unit = tmp_path / "aichat.service"
    unit.write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_environment_example_parses_and_names_only_real_settings():
    """Does every value parse as aichat would read it, and is every name a setting that exists?"""
    values = dotenv_values(ENV_EXAMPLE)
    known = {name for name in dir(Defaults) if name.isupper()} | SERVER_SETTINGS
    assert sorted(set(values) - known) == [], "names nothing reads"
    settings = from_environ(values)
    assert settings["AICHAT_ENV"] == "production"
    assert settings["AICHAT_TRUSTED_PROXIES"] == 1, "behind nginx, one trusted hop"
    assert settings["SESSION_COOKIE_SECURE"] is True
    for required in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "GEMINI_API_KEY", "AICHAT_API_KEYS"):
        assert required in values, f"{required} is not explained"


def test_the_limits_agree_across_app_nginx_and_systemd():
    """Body limit: the env file and nginx's client_max_body_size; stop deadline below the graceful timeout,
    itself below systemd's TimeoutStopSec."""
    values = from_environ(dotenv_values(ENV_EXAMPLE))
    site = (ROOT / "deploy" / "nginx-aichat.conf").read_text()
    size = re.search(r"client_max_body_size (\d+)([km]?);", site)
    assert int(size[1]) * {"": 1, "k": 1024, "m": 1024 * 1024}[size[2]] == values["AICHAT_MAX_BODY_BYTES"]
    graceful = int(dotenv_values(ENV_EXAMPLE)["AICHAT_GRACEFUL_TIMEOUT"])
    assert values["AICHAT_STOP_DEADLINE"] <= graceful - 5
    assert _seconds(_unit()["TimeoutStopSec"][0]) > graceful
