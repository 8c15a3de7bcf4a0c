#!/usr/bin/env bash
# Install Debian's Chromium (and a CJK font) for the browser tests when it is missing. Playwright drives this
# binary directly; it never downloads a browser of its own. A failed install does not stop the
# run: the browser tests then skip with the reason (and fail under CI=true).
set -u
# A CJK font too, so pages in Simplified Chinese render (and are screenshotted) as people see them.
if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi "wqy"; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "browser.sh: /usr/bin/chromium is missing and apt-get is not available" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-liberation fonts-wqy-microhei >/dev/null; then
  echo "browser.sh: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
else
  echo "browser.sh: could not install chromium with apt-get" >&2
fi
exit 0
