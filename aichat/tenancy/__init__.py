"""Sites (tenants), their client keys, presets, limits and budgets: plain Python, plus `flask sites` and `flask keys`."""
from .directory import LOCAL_DOMAIN, Directory, key_digest
from .specs import ClientKeySpec, Limits, Preset, SiteSpec

__all__ = ["ClientKeySpec", "Directory", "LOCAL_DOMAIN", "Limits", "Preset", "SiteSpec", "key_digest"]
