"""The failover policy, as one small pure function the attempt loop asks after every failure."""
from __future__ import annotations

from aichat.providers.base import ProviderError, UpstreamRateLimited, UpstreamServerError, UpstreamTimeout, UpstreamUnavailable


def should_failover(err: ProviderError) -> bool:
    """Try the next key or provider? Yes for transient and key failures; never for a bad request."""
    return err.retryable or err.bench_key


def counts_against_provider(err: ProviderError) -> bool:
    """Does this failure say the endpoint itself is unwell (not just this key)?"""
    return isinstance(err, (UpstreamTimeout, UpstreamUnavailable, UpstreamServerError))


def counts_against_key(err: ProviderError) -> bool:
    """Does this failure count towards opening the key's circuit?"""
    return err.retryable or isinstance(err, UpstreamRateLimited)
