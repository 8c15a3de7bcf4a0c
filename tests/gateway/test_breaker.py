"""The circuit breaker: hysteresis, not hair triggers."""
from aichat.gateway.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make(failures=3, window=10.0, cooldown=5.0):
    clock = Clock()
    return CircuitBreaker(failures, window, cooldown, clock=clock), clock


def test_one_failure_disables_nothing():
    breaker, _ = make()
    breaker.record_failure()
    assert breaker.state == CLOSED and breaker.allow()


def test_n_failures_within_the_window_open_it():
    breaker, clock = make()
    for _ in range(3):
        breaker.record_failure()
        clock.now += 1
    assert breaker.state == OPEN
    assert not breaker.allow()


def test_failures_spread_beyond_the_window_do_not_open_it():
    breaker, clock = make()
    for _ in range(6):
        breaker.record_failure()
        clock.now += 6  # only one earlier failure is ever inside the 10 s window
    assert breaker.state == CLOSED


def test_after_the_cooldown_one_probe_decides():
    breaker, clock = make()
    for _ in range(3):
        breaker.record_failure()
    clock.now += 5.1
    assert breaker.state == HALF_OPEN
    assert breaker.allow(), "the first caller gets the probe"
    assert not breaker.allow(), "nobody else while the probe is out"
    breaker.record_success()
    assert breaker.state == CLOSED and breaker.allow()


def test_a_failed_probe_opens_it_again_for_a_full_cooldown():
    breaker, clock = make()
    for _ in range(3):
        breaker.record_failure()
    clock.now += 5.1
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == OPEN
    clock.now += 4.9
    assert breaker.state == OPEN
    clock.now += 0.2
    assert breaker.state == HALF_OPEN


def test_a_probe_that_never_reports_back_expires():
    breaker, clock = make()
    for _ in range(3):
        breaker.record_failure()
    clock.now += 5.1
    assert breaker.allow()
    clock.now += 5.1
    assert breaker.allow(), "a lost probe must not hold the circuit half-open forever"


def test_success_clears_counted_failures():
    breaker, _ = make()
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == CLOSED


def test_each_change_is_told_once_in_order_while_it_holds_the_state():
    """Are open, half-open and closed each reported once, under the lock, so a gauge following them
    can never be left showing a state that another thread has already replaced?"""
    breaker, clock = make()
    told = []
    breaker.add_listener(lambda state: told.append((state, breaker._lock.locked())))
    breaker.add_listener(lambda state: told.append(state))
    for _ in range(3):
        breaker.record_failure()
    clock.now += 5.1
    assert breaker.allow()
    breaker.record_success()
    breaker.record_success()  # already closed: nothing to tell
    assert told == [(OPEN, True), OPEN, (HALF_OPEN, True), HALF_OPEN, (CLOSED, True), CLOSED], "every listener"
