"""SQLAlchemy models, one module per domain."""
from .accounts import AdminUser, ApiToken
from .gateway import ModelPrice
from .usage import AIUsageLog, AIUsageStats, UsageDirtyDay, UsageRollupState, UsageSpoolApplied

__all__ = ["AIUsageLog", "AIUsageStats", "AdminUser", "ApiToken", "ModelPrice", "UsageDirtyDay",
           "UsageRollupState", "UsageSpoolApplied"]
