"""The circuit breaker's states, driven by a clock the test moves."""

from __future__ import annotations

from voka.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(failures=3, reset_seconds=10.0, clock=clock)


def test_opens_after_consecutive_failures_only() -> None:
    clock = Clock()
    b = breaker(clock)
    b.failed()
    b.failed()
    b.succeeded()  # a success in between resets the count
    b.failed()
    b.failed()
    assert b.state is BreakerState.CLOSED
    assert b.allow()
    b.failed()
    assert b.state is BreakerState.OPEN
    assert not b.allow()
    assert b.retry_after == 10.0


def test_half_open_lets_one_trial_through_and_success_closes() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        b.failed()
    clock.now += 10.0
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow()
    assert not b.allow()  # the trial is in flight: others still wait
    b.succeeded()
    assert b.state is BreakerState.CLOSED
    assert b.allow()
    assert b.allow()


def test_failed_trial_opens_again_for_a_full_pause() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        b.failed()
    clock.now += 10.0
    assert b.allow()
    b.failed()
    assert b.state is BreakerState.OPEN
    clock.now += 9.9
    assert not b.allow()
    clock.now += 0.1
    assert b.allow()


def test_a_trial_that_never_reports_stops_blocking_after_the_pause() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        b.failed()
    clock.now += 10.0
    assert b.allow()  # its caller is cancelled and never reports
    clock.now += 5.0
    assert not b.allow()
    clock.now += 5.0
    assert b.allow()
