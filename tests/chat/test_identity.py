"""End-user identity without an app: which tokens and session ids are accepted, and what each refusal says."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import jwt
import pytest

from aichat.chat.identity import (Identity, InvalidEndUser, InvalidSession, InvalidUserToken, SignedUser,
                                  UserTokenExpired, check_end_user, check_session, hmac_token, session_hash,
                                  verify_user_token)
from aichat.tenancy.specs import IdentitySecrets

SECRET = "aic_id_" + "s" * 43
# Tokens signed with HS512 to see them refused: PyJWT warns that this key is short for it.
pytestmark = pytest.mark.filterwarnings("ignore:The HMAC key")
OTHER = "aic_id_" + "o" * 43


def token(secret: str = SECRET, expires_in: float = 600, **claims) -> str:
    return jwt.encode({"sub": "u-42", "exp": int(time.time() + expires_in), **claims}, secret, algorithm="HS256")


def test_a_good_jwt_names_its_user_with_name_and_email():
    user = verify_user_token(token(name="Ada", email="ada@example.com", iat=int(time.time())), [SECRET])
    assert user == SignedUser("u-42", "Ada", "ada@example.com")


@pytest.mark.parametrize("bad, error, code", [
    (lambda: token(OTHER), InvalidUserToken, "invalid_user_token"),  # another site's secret
    (lambda: token()[:-3] + "AAA", InvalidUserToken, "invalid_user_token"),  # a bad signature
    (lambda: token(expires_in=-120), UserTokenExpired, "user_token_expired"),
    (lambda: token(expires_in=25 * 3600), InvalidUserToken, "invalid_user_token"),  # exp too far ahead
    (lambda: jwt.encode({"sub": "u-42"}, SECRET, algorithm="HS256"), InvalidUserToken, "invalid_user_token"),
    (lambda: jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256"), InvalidUserToken,
     "invalid_user_token"),
    (lambda: token(sub=""), InvalidUserToken, "invalid_user_token"),
    (lambda: token(sub="x" * 129), InvalidUserToken, "invalid_user_token"),
    (lambda: token(sub="a\nb"), InvalidUserToken, "invalid_user_token"),
    (lambda: token(name=["not", "a", "string"]), InvalidUserToken, "invalid_user_token"),
    (lambda: jwt.encode({"sub": "u", "exp": int(time.time()) + 60}, SECRET, algorithm="HS512"), InvalidUserToken,
     "invalid_user_token"),
    (lambda: jwt.encode({"sub": "u", "exp": int(time.time()) + 60}, None, algorithm="none"), InvalidUserToken,
     "invalid_user_token"),
    (lambda: "not.a.jwt", InvalidUserToken, "invalid_user_token"),
    (lambda: "", InvalidUserToken, "invalid_user_token"),
])
def test_bad_tokens_are_refused_with_their_code(bad, error, code):
    with pytest.raises(error) as refused:
        verify_user_token(bad(), [SECRET])
    assert refused.value.code == code and refused.value.status == 401
    assert SECRET not in refused.value.message


def test_clock_leeway_is_thirty_seconds():
    assert verify_user_token(token(expires_in=-20), [SECRET]).id == "u-42"
    with pytest.raises(UserTokenExpired):
        verify_user_token(token(expires_in=-40), [SECRET])
    assert verify_user_token(token(expires_in=24 * 3600 + 20), [SECRET]).id == "u-42"


def test_the_hmac_form_is_accepted_and_checked():
    assert verify_user_token(hmac_token(SECRET, "u-42"), [SECRET]) == SignedUser("u-42")
    upper_hex = "hmac:u-42:" + hmac_token(SECRET, "u-42").rsplit(":", 1)[1].upper()
    assert verify_user_token(upper_hex, [SECRET]).id == "u-42"
    for bad in (hmac_token(OTHER, "u-42"), hmac_token(SECRET, "u-42")[:-1] + "0", "hmac:u-42:abc",
                "hmac:a:b:" + "0" * 64, "hmac::" + "0" * 64, hmac_token(SECRET, "u-42").replace("u-42", "u-43")):
        with pytest.raises(InvalidUserToken):
            verify_user_token(bad, [SECRET])


def test_without_a_secret_no_token_verifies():
    with pytest.raises(InvalidUserToken, match="no identity secret"):
        verify_user_token(token(), [])


def test_a_rotated_secret_verifies_until_its_grace_ends():
    now = datetime.now(timezone.utc)
    secrets = IdentitySecrets(current=OTHER, previous=SECRET, previous_until=now + timedelta(hours=1))
    assert verify_user_token(token(SECRET), secrets.usable_at(now)).id == "u-42"
    assert verify_user_token(hmac_token(SECRET, "u-1"), secrets.usable_at(now)).id == "u-1"
    assert verify_user_token(token(OTHER), secrets.usable_at(now)).id == "u-42"
    later = now + timedelta(hours=1, seconds=1)
    assert secrets.usable_at(later) == (OTHER,)
    with pytest.raises(InvalidUserToken):
        verify_user_token(token(SECRET), secrets.usable_at(later))
    assert SECRET not in repr(secrets) and OTHER not in repr(secrets)


@pytest.mark.parametrize("raw", ["a" * 21, "a" * 129, "a" * 30 + "=", "a" * 30 + " ", "", "ä" * 30])
def test_session_ids_outside_the_format_are_refused(raw):
    with pytest.raises(InvalidSession) as refused:
        check_session(1, raw)
    assert refused.value.status == 400 and refused.value.code == "invalid_session"


def test_a_session_is_stored_only_as_its_hash_per_site():
    session = "abcdefghijklmnopqrstuvwxyz012345"
    owner = check_session(1, session)
    assert len(owner) == 64 and session not in owner
    assert owner != check_session(2, session), "one id means nothing on another site"
    identity = Identity(session=owner)
    assert identity.owner == f"anon:{owner}" and identity.end_user == f"anon:{owner[:16]}"
    assert owner == session_hash(1, session)


def test_a_signed_user_wins_over_the_session():
    identity = Identity(SignedUser("u-42"), check_session(1, "a" * 32))
    assert identity.owner == identity.end_user == "user:u-42"
    assert identity.session_owner.startswith("anon:")


def test_a_client_key_names_its_user_plainly():
    assert check_end_user("u-42") == SignedUser("u-42")
    for bad in ("", "x" * 129, "a\tb"):
        with pytest.raises(InvalidEndUser):
            check_end_user(bad)
