#!/usr/bin/env bash
# Install Debian's nginx-light for the deployment tests when nginx is missing. The tests run it
# under a temporary prefix on unprivileged ports; nothing system-wide is configured. A failed
# install does not stop the run: those tests then skip with the reason (and fail under CI=true).
set -u
if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "nginx.sh: nginx is missing and apt-get is not available" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx-light openssl >/dev/null; then
  echo "nginx.sh: installed $(/usr/sbin/nginx -v 2>&1)"
else
  echo "nginx.sh: could not install nginx-light with apt-get" >&2
fi
exit 0
