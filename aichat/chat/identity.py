"""Who a site's end user is: an anonymous browser session, or a user the site vouches for with a signed token.

Plain Python, no Flask. A browser makes its own session id (random, kept in localStorage) and sends it;
the server never stores it, only the SHA-256 of (site id, id) as the owner of its conversations. A
signed-in user comes with a token the site's backend signed with the site's identity secret: a JWT
(HS256, `sub` and `exp` required, `exp` at most 24 h ahead) or, for sites moving from other widgets,
`hmac:<user id>:<hex HMAC-SHA256(secret, user id)>`. Each site has its own secret, so another site's
token fails the signature.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

SESSION_PATTERN = r"^[A-Za-z0-9_-]{22,128}$"
_SESSION = re.compile(SESSION_PATTERN)
USER_ID_MAX = 128
# A user id: 1-128 characters, no control characters (it names counters and is stored as the owner).
USER_ID_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]{1,128}$"
_USER_ID = re.compile(USER_ID_PATTERN)
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
HMAC_PREFIX = "hmac:"
TOKEN_MAX = 4096  # a JWT with a name and an e-mail is a few hundred characters
LEEWAY = 30  # seconds of clock difference between the site's servers and ours
MAX_LIFETIME = timedelta(hours=24)  # a token whose exp is further ahead is refused
_CLAIM_MAX = 256  # name and email


class IdentityError(ValueError):
    """A session id or user token refused: `status` and `code` as the /api error carries them."""

    status = 400
    code = "invalid_identity"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidSession(IdentityError):
    code = "invalid_session"


class InvalidUserToken(IdentityError):
    status = 401
    code = "invalid_user_token"


class UserTokenExpired(IdentityError):
    status = 401
    code = "user_token_expired"


class InvalidEndUser(IdentityError):
    code = "invalid_end_user"


@dataclass(frozen=True, slots=True)
class SignedUser:
    """A user a site vouched for."""

    id: str
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """The end user of a request: a signed-in user, an anonymous session, or (claiming) both."""

    user: SignedUser | None = None
    session: str | None = None  # the session's owner hash (64 hex digits), never the id itself

    @property
    def owner(self) -> str:
        """Whose conversations the request reads and writes: the user's when signed in."""
        return f"user:{self.user.id}" if self.user is not None else f"anon:{self.session}"

    @property
    def session_owner(self) -> str | None:
        return f"anon:{self.session}" if self.session is not None else None

    @property
    def end_user(self) -> str:
        """How limits count this end user (`Caller.end_user`): the user id, or the start of the session hash."""
        return f"user:{self.user.id}" if self.user is not None else f"anon:{self.session[:16]}"


def session_hash(site_id: int | None, session_id: str) -> str:
    """The owner hash of a checked session id: SHA-256 of (site id, id), so one id means nothing on another site."""
    return hashlib.sha256(f"{site_id}:{session_id}".encode()).hexdigest()


def check_session(site_id: int | None, raw: str) -> str:
    """The owner hash of session id `raw`; InvalidSession unless it is 22-128 base64url characters."""
    if not _SESSION.match(raw):
        raise InvalidSession("X-AIChat-Session must be 22 to 128 characters of A-Z, a-z, 0-9, '-' and '_' "
                             "(24 random bytes in base64url)")
    return session_hash(site_id, raw)


def check_end_user(raw: str) -> SignedUser:
    """The user a client key acts for (X-AIChat-End-User): 1-128 characters, none a control character."""
    if not _USER_ID.match(raw):
        raise InvalidEndUser(f"X-AIChat-End-User must be a user id of 1 to {USER_ID_MAX} characters, none of them "
                             f"a control character")
    return SignedUser(raw)


def verify_user_token(token: str, secrets: Sequence[str], now: datetime | None = None) -> SignedUser:
    """The user a token names, verified with any of `secrets` (the current one first, then one in its grace
    period); InvalidUserToken or UserTokenExpired otherwise."""
    if not secrets:
        raise InvalidUserToken("this site has no identity secret, so it cannot sign users in "
                               "(`flask sites identity-secret DOMAIN` makes one)")
    if not token or len(token) > TOKEN_MAX:
        raise InvalidUserToken(f"X-AIChat-User must be a signed token of 1 to {TOKEN_MAX} characters")
    now = now or datetime.now(timezone.utc)
    if token.startswith(HMAC_PREFIX):
        return _verify_hmac(token, secrets)
    return _verify_jwt(token, secrets, now)


def hmac_token(secret: str, user_id: str) -> str:
    """The migration form of a user token, as a site's backend makes it."""
    digest = hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()
    return f"{HMAC_PREFIX}{user_id}:{digest}"


def _verify_hmac(token: str, secrets: Sequence[str]) -> SignedUser:
    parts = token.split(":")
    if len(parts) != 3 or not _USER_ID.match(parts[1]) or not _HEX_DIGEST.fullmatch(parts[2]):
        raise InvalidUserToken("an hmac token is hmac:<user id>:<64 hex digits>, the user id without ':'")
    user_id, given = parts[1], parts[2].lower()
    for secret in secrets:
        expected = hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, given):
            return SignedUser(user_id)
    raise InvalidUserToken("the user token's signature does not match this site's identity secret")


def _verify_jwt(token: str, secrets: Sequence[str], now: datetime) -> SignedUser:
    # Imported here: PyJWT loads `cryptography`, which a worker whose sites sign no users never needs.
    import jwt

    for secret in secrets:
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"], leeway=LEEWAY,
                                options={"require": ["exp", "sub"], "verify_aud": False, "verify_iss": False})
        except jwt.InvalidSignatureError:
            continue  # perhaps the previous secret, in its grace period
        except jwt.ExpiredSignatureError:
            raise UserTokenExpired("the user token has expired: get a fresh one from the site") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidUserToken(f"the user token is not a valid HS256 JWT ({_reason(exc)})") from None
        return _user(claims, now)
    raise InvalidUserToken("the user token's signature does not match this site's identity secret")


def _user(claims: dict, now: datetime) -> SignedUser:
    exp = claims["exp"]  # PyJWT has checked it is a number in the future
    if exp > (now + MAX_LIFETIME).timestamp() + LEEWAY:
        raise InvalidUserToken("the user token's exp is more than 24 hours ahead: sign short-lived tokens")
    sub = claims["sub"]
    if not isinstance(sub, str) or not _USER_ID.match(sub):
        raise InvalidUserToken(f"the user token's sub must be a user id of 1 to {USER_ID_MAX} characters")
    extra = {}
    for name in ("name", "email"):
        value = claims.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > _CLAIM_MAX):
            raise InvalidUserToken(f"the user token's {name} must be a string of at most {_CLAIM_MAX} characters")
        extra[name] = value
    return SignedUser(sub, **extra)


def _reason(exc: Exception) -> str:
    """PyJWT's reason, short and never the token."""
    return str(exc).splitlines()[0][:120] or type(exc).__name__
