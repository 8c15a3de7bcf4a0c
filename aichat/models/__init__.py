"""SQLAlchemy models, one module per domain."""
from .accounts import AdminUser, ApiToken
from .audit import AuditEvent
from .chat import ChatMessage, Conversation
from .gateway import ConfigVersion, ModelAlias, ModelPrice, Upstream, UpstreamKey
from .tenancy import ClientKey, Site
from .usage import AIUsageLog, AIUsageStats, UsageDirtyDay, UsageRollupState, UsageSpoolApplied

__all__ = ["AIUsageLog", "AIUsageStats", "AdminUser", "ApiToken", "AuditEvent", "ChatMessage", "ClientKey",
           "ConfigVersion", "Conversation",
           "ModelAlias", "ModelPrice", "Site", "Upstream", "UpstreamKey", "UsageDirtyDay", "UsageRollupState", "UsageSpoolApplied"]
