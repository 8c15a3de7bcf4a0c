"""Rate limits and budgets of sites and client keys: counted before the upstream call, settled after it."""
from .memory import MemoryCounters
from .plan import Estimate
from .quota import LimitExceeded, Quota, Reservation
from .windows import Windows

__all__ = ["Estimate", "LimitExceeded", "MemoryCounters", "Quota", "Reservation", "Windows"]
