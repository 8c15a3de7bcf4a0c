"""The failover policy, table-driven: which upstream failures move on to the next key or provider."""
import pytest

from aichat.gateway.failover import counts_against_key, counts_against_provider, should_failover
from aichat.providers.base import (
    KeyInvalid,
    RequestInvalid,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_for_status,
)


@pytest.mark.parametrize("err, failover, against_key, against_provider", [
    (UpstreamTimeout("t"), True, True, True),
    (UpstreamUnavailable("refused"), True, True, True),
    (UpstreamServerError("500", status=500), True, True, True),
    (UpstreamRateLimited("429", status=429), True, True, False),
    (KeyInvalid("401", status=401), True, False, False),
    (RequestInvalid("400", status=400), False, False, False),
])
def test_policy(err, failover, against_key, against_provider):
    assert should_failover(err) is failover
    assert counts_against_key(err) is against_key
    assert counts_against_provider(err) is against_provider


@pytest.mark.parametrize("status, out_of_credit, expected", [
    (400, False, RequestInvalid),
    (404, False, RequestInvalid),
    (422, False, RequestInvalid),
    (401, False, KeyInvalid),
    (402, False, KeyInvalid),
    (403, False, KeyInvalid),
    (429, False, UpstreamRateLimited),
    (429, True, KeyInvalid),
    (408, False, UpstreamTimeout),
    (500, False, UpstreamServerError),
    (502, False, UpstreamServerError),
    (503, False, UpstreamServerError),
    (504, False, UpstreamTimeout),
])
def test_status_mapping(status, out_of_credit, expected):
    err = error_for_status(status, "message", out_of_credit=out_of_credit)
    assert type(err) is expected
    assert err.status == status
