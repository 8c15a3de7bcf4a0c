"""Rate limits and budgets of sites and client keys: counted before the upstream call, settled after it."""
from .memory import MemoryCounters
from .quota import LimitExceeded, Quota, Reservation
from .windows import Windows

__all__ = ["LimitExceeded", "MemoryCounters", "Quota", "Reservation", "Windows"]
