"""The windows limits count in: the clock minute, and the day and month in AICHAT_TIMEZONE, like the rollup.

Windows are fixed (a minute starts on the minute, a day at local midnight): every process and instance
cuts them the same way from the wall clock, so they name the same counters (keep clocks in sync, NTP).
The windows are computed once a minute (the day's and month's once a day) and shared by the requests
of that minute, so a request pays two comparisons for them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from aichat.usage.days import day_start

MINUTE, DAY, MONTH = "minute", "day", "month"


@dataclass(frozen=True, slots=True)
class Window:
    """One window as it is now: its name, an id shared fleet-wide (its start), and when it resets."""

    name: str
    start: int  # epoch seconds
    reset: int  # epoch seconds: the next window's start


class Windows:
    """The minute, day and month windows at a given instant."""

    def __init__(self, zone: ZoneInfo):
        self.zone = zone
        self._now = {MINUTE: Window(MINUTE, 0, 0), DAY: Window(DAY, 0, 0), MONTH: Window(MONTH, 0, 0)}
        self._periods: dict[int, Window] = {}  # seconds -> the window of that length as it is now

    def at(self, now: float) -> dict[str, Window]:
        windows = self._now  # kept while its minute lasts: the common case builds nothing
        if windows[MINUTE].start <= now < windows[MINUTE].reset:
            return windows
        start = int(now) - int(now) % 60
        day, month = windows[DAY], windows[MONTH]
        if not day.start <= now < day.reset:
            day, month = self._calendar(now)
        windows = {MINUTE: Window(MINUTE, start, start + 60), DAY: day, MONTH: month}
        if start >= self._now[MINUTE].start:  # a clock read late by another thread never moves it back
            self._now = windows
        return windows

    def every(self, seconds: int, label: str, now: float) -> Window:
        """The window of `seconds` (a second, a minute, an hour …) that `now` falls in, cut from the epoch."""
        window = self._periods.get(seconds)
        if window is not None and window.start <= now < window.reset:
            return window
        start = int(now) - int(now) % seconds
        window = Window(label, start, start + seconds)
        self._periods[seconds] = window
        return window

    def _calendar(self, now: float) -> tuple[Window, Window]:
        today = datetime.fromtimestamp(now, timezone.utc).astimezone(self.zone).date()
        first = today.replace(day=1)
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return (Window(DAY, _epoch(today, self.zone), _epoch(today + timedelta(days=1), self.zone)),
                Window(MONTH, _epoch(first, self.zone), _epoch(following, self.zone)))


def _epoch(day: date, zone: ZoneInfo) -> int:
    return int(day_start(day, zone).timestamp())
