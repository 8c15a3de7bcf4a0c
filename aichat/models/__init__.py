"""SQLAlchemy models, one module per domain."""
from .usage import AIUsageLog

__all__ = ["AIUsageLog"]
