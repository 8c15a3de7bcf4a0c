"""Ending JSON calls at the stop deadline, on real greenlets and a real gateway (no server; gevent's hub)."""
from __future__ import annotations

import gevent
import pytest
from gevent.event import Event

from aichat.gateway import CallContext, Gateway
from aichat.gateway.breaker import CircuitBreaker
from aichat.gateway.routing import Router
from aichat.gateway.specs import KIND_FAMILIES, UpstreamSpec
from aichat.gateway.upstreams import KeySlot, Upstream
from aichat.lifecycle import Lifecycle, ServerShuttingDown
from aichat.providers.base import ChatRequest, Completion, Message, UpstreamUnavailable

REQUEST = ChatRequest([Message("user", "hi")], model="gpt-4o-mini")


class WaitingAdapter:
    """An upstream that answers when `answer` is set; until then the call waits on the hub, as on a socket."""

    def __init__(self):
        self.answer = Event()
        self.calls = 0

    def complete(self, client, req, model):
        self.calls += 1
        try:
            self.answer.wait()
        except Exception as exc:  # noqa: BLE001 - as the real adapters map every failure onto the taxonomy
            raise UpstreamUnavailable(repr(exc)) from None
        return Completion("hello", model, "stop", None)


def _gateway(records: list) -> tuple[Gateway, dict[str, WaitingAdapter]]:
    """Two providers, two keys each; a breaker opens at the first failure it is told of."""
    adapters = {"openai": WaitingAdapter(), "gemini": WaitingAdapter()}

    def breaker():
        return CircuitBreaker(1, 60.0, 60.0)

    upstreams = {name: Upstream(name, adapter, model, [KeySlot(f"{name}#{i}", None, breaker()) for i in (1, 2)],
                                breaker())
                 for (name, adapter), model in zip(adapters.items(), ("gpt-4o-mini", "gemini-2.5-flash"))}
    router = Router([UpstreamSpec(name, name, "", (), KIND_FAMILIES[name], up.default_model)
                     for name, up in upstreams.items()], ["openai", "gemini"], {}, "")
    return Gateway(upstreams, router, records.append), adapters


def _tracked(stop_deadline: float) -> Lifecycle:
    lifecycle = Lifecycle(stop_deadline)
    lifecycle.track_greenlets()
    return lifecycle


def _serve(lifecycle: Lifecycle, gateway: Gateway, request_id: str):
    """What a view does with a JSON call: the gateway's answer, or the ServerShuttingDown it ended with."""
    try:
        with lifecycle.watch_call():
            content = gateway.complete(REQUEST, CallContext(request_id, "v1")).completion.content
    except ServerShuttingDown as err:
        return err
    gevent.sleep(0.01)  # writing the response yields to the hub, where a stray wake would land
    return content


def test_a_json_call_waiting_at_the_deadline_ends_recorded_and_not_failed_over():
    """Draining with a 0.2 s deadline while a call waits on upstream: does the wake pass the adapter's `except
    Exception`, and the call end with ServerShuttingDown, with one usage record of that error and the wait so
    far, no second key or provider tried, and no breaker told?"""
    records: list = []
    gateway, adapters = _gateway(records)
    lifecycle = _tracked(0.2)
    call = gevent.spawn(_serve, lifecycle, gateway, "late")
    gevent.sleep(0)  # the call is now waiting on upstream
    lifecycle.begin_drain()
    assert isinstance(call.get(timeout=5), ServerShuttingDown)

    assert [(r.request_id, r.provider, r.status, r.error_code) for r in records] == [
        ("late", "openai", "error", "server_shutting_down")]
    assert records[0].latency_ms >= 200
    assert (adapters["openai"].calls, adapters["gemini"].calls) == (1, 0)
    breakers = [up.breaker for up in gateway.upstreams.values()]
    breakers += [key.breaker for up in gateway.upstreams.values() for key in up.keys]
    assert {b.state for b in breakers} == {"closed"}


def test_a_call_answered_in_the_same_turn_as_the_deadline_keeps_its_answer():
    """Upstream answers, then the deadline claims the call before it has run again: does the call keep its
    answer (recorded as a success), with the wake taken inside the watch rather than landing in the response?"""
    records: list = []
    gateway, adapters = _gateway(records)
    lifecycle = _tracked(0.0)
    call = gevent.spawn(_serve, lifecycle, gateway, "just-in-time")
    gevent.sleep(0)
    adapters["openai"].answer.set()  # the call resumes at the next turn of the loop ...
    lifecycle.end_open_calls()  # ... and the deadline's wake is queued behind it
    assert call.get(timeout=5) == "hello"
    assert [(r.request_id, r.status) for r in records] == [("just-in-time", "success")]


def test_a_json_call_that_answers_before_the_deadline_is_left_alone():
    """Draining, upstream answers before the deadline: does the call get its answer and nothing is woken later?"""
    records: list = []
    gateway, adapters = _gateway(records)
    lifecycle = _tracked(0.3)
    call = gevent.spawn(_serve, lifecycle, gateway, "early")
    gevent.sleep(0)
    lifecycle.begin_drain()
    adapters["openai"].answer.set()
    assert call.get(timeout=5) == "hello"
    gevent.sleep(0.5)  # past the deadline: nothing is watched any more
    assert [(r.request_id, r.status) for r in records] == [("early", "success")]


def test_without_gevent_a_new_call_past_the_deadline_is_refused_before_upstream():
    """Plain threads: a call starting past the deadline gets ServerShuttingDown before anything is sent; one
    starting before it runs as usual."""
    lifecycle = Lifecycle(0.0)
    with lifecycle.watch_call():
        pass
    lifecycle.begin_drain()
    with pytest.raises(ServerShuttingDown):
        with lifecycle.watch_call():
            pytest.fail("the call went ahead past the deadline")


def test_an_exiting_worker_flushes_usage_rows_only_until_just_before_gunicorns_kill(monkeypatch):
    """Once stopping, the time to write usage rows ends SPOOL_RESERVE before the graceful timeout (so what is
    left is spooled, not killed with the worker); before that, and outside gunicorn, it is the limit given."""
    from aichat import lifecycle as lifecycle_mod

    now = [1000.0]
    monkeypatch.setattr(lifecycle_mod.time, "monotonic", lambda: now[0])
    lifecycle = Lifecycle(25.0)
    assert lifecycle.flush_budget(10) == 10
    lifecycle.clamp(30)
    lifecycle.begin_drain()
    now[0] += 25.0  # the stop deadline has passed: 5 s left before gunicorn kills the worker
    assert lifecycle.flush_budget(10) == 5.0 - lifecycle_mod.SPOOL_RESERVE
    now[0] += 10.0  # past the kill (a slow exit): still a moment to spool
    assert lifecycle.flush_budget(10) == 0.5
