"""SQLAlchemy models, one module per domain."""
from .accounts import AdminUser, ApiToken
from .audit import AuditEvent
from .gateway import ConfigVersion, ModelPrice, Upstream, UpstreamKey
from .usage import AIUsageLog, AIUsageStats, UsageDirtyDay, UsageRollupState, UsageSpoolApplied

__all__ = ["AIUsageLog", "AIUsageStats", "AdminUser", "ApiToken", "AuditEvent", "ConfigVersion", "ModelPrice",
           "Upstream", "UpstreamKey", "UsageDirtyDay", "UsageRollupState", "UsageSpoolApplied"]
