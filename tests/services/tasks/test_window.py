"""The dispatch window follows the pool's pace between its floor and ceiling."""

from __future__ import annotations

import pytest

from services.tasks.window import DispatchWindow

FAST, SLOW = 5, 1  # two worker types


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(window: DispatchWindow, clock: Clock, per_second: dict[int, int], seconds: float) -> None:
    """Tick every 0.25 s for `seconds`, each type finishing its rate of attempts."""
    for _ in range(int(seconds / 0.25)):
        clock.now += 0.25
        for worker_type, rate in per_second.items():
            window.finished(worker_type, int(rate * 0.25))
        window.update()


def test_a_fast_pool_gets_about_horizon_seconds_of_its_work_and_a_slow_one_the_floor():
    clock = Clock()
    window = DispatchWindow(floor=512, ceiling=4096, horizon=1.0, clock=clock)
    assert window.size(FAST) == window.size(SLOW) == 512  # nothing known yet
    run(window, clock, {FAST: 3000, SLOW: 16}, seconds=3)
    assert window.pace(FAST) == pytest.approx(3000, rel=0.01)
    assert window.size(FAST) == pytest.approx(3000, rel=0.01)
    assert window.size(SLOW) == 512


def test_the_window_stops_at_its_ceiling_and_falls_back_when_the_pool_idles():
    clock = Clock()
    window = DispatchWindow(floor=512, ceiling=2048, horizon=1.0, clock=clock)
    run(window, clock, {FAST: 10_000}, seconds=2)
    assert window.size(FAST) == 2048
    run(window, clock, {FAST: 0}, seconds=3)
    assert window.size(FAST) == 512


def test_ticks_sooner_than_a_period_wait_for_it():
    clock = Clock()
    window = DispatchWindow(floor=10, ceiling=10_000, horizon=1.0, clock=clock)
    clock.now = 0.1
    window.finished(FAST, 100)
    window.update()  # too soon: nothing folded in yet
    assert window.pace(FAST) == 0.0
    clock.now = 0.25
    window.update()
    assert window.pace(FAST) == pytest.approx(400)


def test_a_floor_above_the_ceiling_is_refused():
    with pytest.raises(ValueError, match="floor"):
        DispatchWindow(floor=100, ceiling=10, horizon=1.0)
