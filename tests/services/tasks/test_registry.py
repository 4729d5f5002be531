"""The function registry, the argument schema checks and the numeric policies."""

from __future__ import annotations

import itertools
import random

import pytest

from services.tasks.policy import PLACEMENT_SLOT, Placement, retry_delay, shard_of
from services.tasks.registry import Registry, default_registry
from voka.tasks.v1 import tasks_pb2


def test_shipped_functions_declare_worker_types_and_schemas():
    registry = default_registry()
    add = registry.get("math.add")
    assert add is not None
    assert add.worker_type == tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE
    assert add.call(a=2, b=3) == 5
    assert registry.get("os.system") is None
    assert registry.get("demo.sleep").is_async  # type: ignore[union-attr]


def test_registering_a_name_twice_is_refused():
    registry = Registry()
    decorate = registry.function(
        "x.y", worker_type=tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE, description="d"
    )
    decorate(lambda: None)
    with pytest.raises(ValueError, match="twice"):
        decorate(lambda: None)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"a": 1, "b": 2.5}, set()),
        ({"a": 1}, {"args.b"}),
        ({"a": "1", "b": 2, "c": 3}, {"args.a", "args.c"}),
        ({"a": True, "b": None}, {"args.a", "args.b"}),
    ],
)
def test_argument_schema_names_every_bad_field(args, expected):
    add = default_registry().get("math.add")
    assert add is not None
    assert {v.field for v in add.check(args, "args")} == expected


def test_integer_bounds_and_array_items_are_checked():
    registry = default_registry()
    fib, total = registry.get("math.fibonacci"), registry.get("math.sum")
    assert fib is not None
    assert total is not None
    assert [v.field for v in fib.check({"n": 3.5}, "args")] == ["args.n"]
    assert [v.field for v in fib.check({"n": 79}, "args")] == ["args.n"]
    assert fib.check({"n": 10.0}, "args") == []
    assert [v.field for v in total.check({"values": [1, "x"]}, "args")] == ["args.values[1]"]


def test_shards_are_stable_and_spread():
    assert shard_of("customer-42", 16) == shard_of("customer-42", 16)
    counts = [0] * 8
    for n in range(8000):
        counts[shard_of(str(n), 8)] += 1
    assert min(counts) > 800


class Clock:
    """Mid-slot readings, a slot at a time."""

    def __init__(self) -> None:
        self.slot = 20_000

    def __call__(self) -> float:
        return (self.slot + 0.5) * PLACEMENT_SLOT


def test_keyless_tasks_of_one_slot_share_an_open_shard_and_slots_take_turns():
    clock, open_now = Clock(), [1, 4, 6]
    placement = Placement(8, lambda: open_now, clock)
    shards = []
    for _ in range(30):  # ten slots, three tasks in each
        here = {placement.shard("", f"task-{n}") for n in range(3)}
        assert len(here) == 1
        shards += here
        clock.slot += 1
    assert set(shards) == {1, 4, 6}
    assert all(shards.count(shard) >= 3 for shard in open_now)  # turns, not one shard
    assert all(a != b for a, b in itertools.pairwise(shards))


def test_a_keyed_task_hashes_and_a_replica_serving_no_shard_hashes_the_id():
    clock, open_now = Clock(), [3]
    placement = Placement(8, lambda: open_now, clock)
    assert placement.shard("customer-42", "t1") == shard_of("customer-42", 8)
    assert placement.shard("", "t1") == 3
    open_now.clear()
    clock.slot += 1
    assert placement.shard("", "t1") == shard_of("t1", 8)


def test_retry_delay_doubles_with_equal_jitter_and_a_cap():
    rand = random.Random(7)
    for attempt, step in [(1, 1.0), (2, 2.0), (3, 4.0), (10, 30.0)]:
        delays = [retry_delay(attempt, base=1.0, cap=30.0, rand=rand) for _ in range(200)]
        assert step / 2 <= min(delays)
        assert max(delays) <= step
        assert max(delays) - min(delays) > step / 4  # jitter really spreads them
