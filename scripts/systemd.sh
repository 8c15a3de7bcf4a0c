#!/usr/bin/env bash
# Install Debian's systemd for its `systemd-analyze verify`, which checks deploy/aichat.service;
# nothing is started or enabled. A failed install does not stop the run: that test then skips
# with the reason (and fails under CI=true).
set -u
if command -v systemd-analyze >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "systemd.sh: systemd-analyze is missing and apt-get is not available" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq --no-install-recommends systemd >/dev/null; then
  echo "systemd.sh: installed $(systemd-analyze --version 2>/dev/null | head -1)"
else
  echo "systemd.sh: could not install systemd with apt-get" >&2
fi
exit 0
