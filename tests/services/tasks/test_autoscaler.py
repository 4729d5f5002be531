"""The autoscaler's rule (`autoscaler.desired_workers`) and the utilisation a heartbeat reports
(`heartbeats.BusyMeter`), as pure functions."""

from __future__ import annotations

import pytest

from services.tasks.autoscaler import Load, desired_workers
from services.tasks.heartbeats import BusyMeter
from services.tasks.pool_store import PoolBounds
from voka.tasks.v1 import tasks_pb2

CPU = tasks_pb2.WORKER_TYPE_CPU_INTENSIVE


def bounds(low: int, high: int, previous: int) -> PoolBounds:
    return PoolBounds(CPU, low, high, previous)


def load(demand: int = 0, workers: int = 0, concurrency: int = 4, busy: float = 0.0) -> Load:
    return Load(demand=demand, workers=workers, concurrency=concurrency, utilisation=busy)


@pytest.mark.parametrize(
    ("demand", "expected"),
    [(0, 0), (1, 1), (3, 1), (4, 2), (6, 2), (7, 3), (32, 10)],  # slots at 80 %: 3.2 a worker
)
def test_demand_sizes_the_pool_for_eighty_percent_busy(demand: int, expected: int):
    assert desired_workers(load(demand=demand), bounds(0, 10, 0)) == expected


def test_utilisation_keeps_workers_a_snapshot_of_the_queue_misses():
    """Short tasks flowing steadily: nothing waits at the instant, yet 4 workers are 80 % busy."""
    assert desired_workers(load(demand=0, workers=4, busy=0.8), bounds(0, 10, 4)) == 4
    assert desired_workers(load(demand=0, workers=4, busy=1.0), bounds(0, 10, 4)) == 5


def test_scales_up_at_once_and_down_one_worker_a_round():
    assert desired_workers(load(demand=30), bounds(0, 20, 1)) == 10
    previous, seen = 10, []
    while previous:
        previous = desired_workers(load(), bounds(0, 20, previous))
        seen.append(previous)
    assert seen == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]


@pytest.mark.parametrize(
    ("demand", "low", "high", "previous", "expected"),
    [
        (1000, 1, 5, 1, 5),  # never above max
        (0, 2, 5, 2, 2),  # never below min
        (0, 3, 5, 8, 5),  # bounds lowered under the previous size: max wins at once
        (0, 0, 1, 0, 0),  # an idle pool with min 0 stops every worker
    ],
)
def test_the_answer_stays_within_the_bounds(demand, low, high, previous, expected):
    assert desired_workers(load(demand=demand), bounds(low, high, previous)) == expected


def test_a_pool_without_workers_uses_the_concurrency_it_is_given():
    assert desired_workers(load(demand=8, concurrency=1), bounds(0, 50, 0)) == 10
    assert desired_workers(load(demand=8, concurrency=0), bounds(0, 50, 0)) == 10  # taken as 1


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_busy_meter_integrates_attempts_over_the_beat_interval():
    clock = Clock()
    meter = BusyMeter(clock)
    meter.begin(CPU)  # one slot busy from 0 to 1 s
    clock.now = 1.0
    meter.end(CPU)
    meter.begin(CPU)  # and one from 1 s to the reading
    clock.now = 2.0
    assert meter.read(CPU, capacity=4) == pytest.approx(2 / 8)  # 2 slot-seconds of 8
    clock.now = 4.0
    assert meter.read(CPU, capacity=4) == pytest.approx(2 / 8)  # still running: 1 of 4 slots
    meter.end(CPU)
    clock.now = 5.0
    assert meter.read(CPU, capacity=4) == 0.0
    assert meter.completed(CPU) == 2
    assert meter.read(tasks_pb2.WORKER_TYPE_IO_INTENSIVE, capacity=4) == 0.0
