"""Console sessions end after AICHAT_SESSION_IDLE_MINUTES unused and AICHAT_SESSION_LIFETIME_HOURS after sign-in.

Both clocks live in the signed session cookie, so every instance enforces them without shared state.
The idle clock is rewritten at most once a minute: a session used all the time is not a new cookie
on every request.
"""
from __future__ import annotations

import time

SINCE = "admin_since"  # sign-in time, epoch seconds
SEEN = "admin_seen"  # last use
_TOUCH_EVERY = 60


def start(session, now: float | None = None) -> None:
    """Stamp a session that has just signed in."""
    now = int(now if now is not None else time.time())
    session.permanent = True  # the cookie itself expires with the lifetime (PERMANENT_SESSION_LIFETIME)
    session[SINCE] = session[SEEN] = now


def expired(session, config, now: float | None = None) -> bool:
    """Has this signed-in session outlived its idle timeout or its lifetime (or does it carry no clocks)?"""
    now = now if now is not None else time.time()
    since, seen = session.get(SINCE), session.get(SEEN)
    if not isinstance(since, int) or not isinstance(seen, int):
        return True
    return (now - seen > float(config["AICHAT_SESSION_IDLE_MINUTES"]) * 60
            or now - since > float(config["AICHAT_SESSION_LIFETIME_HOURS"]) * 3600)


def touch(session, now: float | None = None) -> None:
    """Note a use of the session (restarting the idle clock), at most once a minute."""
    now = int(now if now is not None else time.time())
    if now - session.get(SEEN, 0) >= _TOUCH_EVERY:
        session[SEEN] = now
