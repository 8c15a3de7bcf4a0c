"""Upstream keys at rest: Fernet tokens under a ring of keys, the newest encrypting and any decrypting.

The ring comes from AICHAT_ENCRYPTION_KEY (newest first while rotating) or, when that is empty, from
instance/encryption_key, generated once. No Flask here: callers pass the settings and the instance folder.
`cryptography` is imported only when a ring is built: a worker whose database stores no key never loads it
(about 9 MB each).
"""
from __future__ import annotations

import binascii
import os
from collections.abc import Mapping

__all__ = ["EncryptionKeyError", "InvalidToken", "KeyRing", "LazyKeyRing", "hint", "load_keyring", "new_key"]


class EncryptionKeyError(ValueError):
    """The encryption keys cannot be used; the message says which one and why, never its value."""


class InvalidToken(ValueError):
    """No key of the ring opens the token, or it was tampered with."""


class KeyRing:
    """The Fernet keys upstream keys are stored under: encrypt with the newest, decrypt with any."""

    def __init__(self, keys: list[str], *, generated: bool = False, source: str = "AICHAT_ENCRYPTION_KEY"):
        if not keys:
            raise EncryptionKeyError(f"{source}: no encryption key")
        from cryptography.fernet import Fernet, InvalidToken as Unopened, MultiFernet

        self._unopened = Unopened
        fernets = []
        for number, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key.strip().encode()))
            except (ValueError, binascii.Error):
                where = f"key {number} of {len(keys)} in {source}" if len(keys) > 1 else source
                raise EncryptionKeyError(f"{where} is not a Fernet key (32 url-safe base64-encoded bytes; make one "
                                         f"with: python -c 'from cryptography.fernet import Fernet; "
                                         f"print(Fernet.generate_key().decode())')") from None
        self._ring = MultiFernet(fernets)
        self._newest = fernets[0]
        self.size = len(fernets)
        self.generated = generated  # True: from instance/encryption_key, not set by the operator
        self.source = source

    def encrypt(self, secret: str) -> str:
        return self._ring.encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The secret; InvalidToken when no key of the ring opens the token (or it was tampered with)."""
        try:
            return self._ring.decrypt(token.encode()).decode()
        except self._unopened:
            raise InvalidToken() from None

    def rotate(self, token: str) -> str:
        """The same secret encrypted under the newest key; InvalidToken as for decrypt."""
        try:
            return self._ring.rotate(token.encode()).decode()
        except self._unopened:
            raise InvalidToken() from None

    def is_newest(self, token: str) -> bool:
        """Does the newest key alone open this token (no re-encryption needed)?"""
        try:
            self._newest.decrypt(token.encode())
        except self._unopened:
            return False
        return True


def load_keyring(settings: Mapping, instance_path: str) -> KeyRing:
    """The ring from AICHAT_ENCRYPTION_KEY, or the key generated once in instance/encryption_key."""
    from aichat.config import ENCRYPTION_KEY_FILE, instance_encryption_key

    keys = list(settings.get("AICHAT_ENCRYPTION_KEY") or [])
    if keys:
        return KeyRing(keys)
    path = os.path.join(instance_path, ENCRYPTION_KEY_FILE)
    key = instance_encryption_key(instance_path)
    if not key:
        raise EncryptionKeyError(f"no AICHAT_ENCRYPTION_KEY, and none could be read or generated in {path}: set one")
    return KeyRing([key], generated=True, source=path)


class LazyKeyRing:
    """The key ring, loaded on the first secret to decrypt: an install with no stored secret never needs one
    (nor writes instance/encryption_key), and its workers never import `cryptography`."""

    def __init__(self, settings: Mapping, instance_path: str):
        self._settings = settings
        self._instance_path = instance_path
        self._ring: KeyRing | None = None

    def decrypt(self, token: str) -> str:
        if self._ring is None:
            self._ring = load_keyring(self._settings, self._instance_path)
        return self._ring.decrypt(token)


def new_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def hint(secret: str) -> str:
    """First and last 4 characters, to tell keys apart; a short key shows less, never more than half of itself."""
    shown = min(4, len(secret) // 4)
    return f"{secret[:shown]}…{secret[-shown:]}" if shown else "…"
