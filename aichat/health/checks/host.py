"""The machine and process: instance folder, the process answering, Python and package versions."""
from __future__ import annotations

import os
import platform
import re
import tempfile
import time
from importlib import metadata

from flask import Flask

from .base import FAIL, OK, WARN, Check
from aichat.runtime import runtime_of


def instance(app: Flask) -> Check:
    """The instance folder holds the SQLite file, the generated secret key and tiktoken's files: it must take a write."""
    path = app.instance_path
    if not os.path.isdir(path):
        return Check("instance", FAIL, f"{path} is missing or not a folder: create it, owned by the service's user")
    try:
        # os.access says yes to root even on a read-only mount: only a real write tells.
        with tempfile.NamedTemporaryFile(dir=path, prefix=".verify-", delete=True) as probe:
            probe.write(b"ok")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        return Check("instance", FAIL, f"cannot write to {path} ({exc.strerror or type(exc).__name__}): "
                                       f"give the service's user write access to it")
    return Check("instance", OK, f"{path} is writable")


def process(app: Flask) -> Check:
    """The process answering: version, pid, uptime, environment."""
    from aichat import __version__

    uptime = time.time() - runtime_of(app).started
    return Check("process", OK, f"aichat {__version__}, pid {os.getpid()}, up {_duration(uptime)}, "
                                f"AICHAT_ENV={app.config['AICHAT_ENV']}")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)")


def requirements_path(app: Flask) -> str:
    return os.path.join(os.path.dirname(app.root_path), "requirements.txt")


def runtime_pins(path: str) -> dict[str, str]:
    """name → pinned version from requirements.txt, up to its `# Tests` section (not installed in production)."""
    pins: dict[str, str] = {}
    with open(path, encoding="utf-8") as file:
        for line in file:
            if line.strip().lower().startswith("# tests"):
                break
            match = _PIN.match(line.strip())
            if match:
                pins[match.group(1)] = match.group(2)
    return pins


def python(app: Flask, requirements: str | None = None) -> Check:
    """Python's version, and each runtime package installed at the version requirements.txt pins."""
    runtime = f"Python {platform.python_version()}"
    path = requirements or requirements_path(app)
    try:
        pins = runtime_pins(path)
    except OSError:
        return Check("python", OK, f"{runtime}; no requirements.txt beside the package to compare with")
    drift = []
    for name, pinned in pins.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            drift.append(f"{name} missing (pinned {pinned})")
            continue
        if installed != pinned:
            drift.append(f"{name} {installed} (pinned {pinned})")
    if drift:
        return Check("python", WARN, f"{runtime}; differs from requirements.txt: {', '.join(drift)}: "
                                     f"run `pip install -r requirements.txt` in the service's virtualenv")
    return Check("python", OK, f"{runtime}; all {len(pins)} runtime packages at their requirements.txt pins")
