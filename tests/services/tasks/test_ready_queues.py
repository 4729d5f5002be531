"""The scheduler's pure queues: priority order, FIFO, aging, not-before times, pause, cancel."""

from __future__ import annotations

import pytest

from services.tasks.ready_queues import BACKGROUND, CRITICAL, Item, ReadyQueues, effective_level

GP, CPU = 5, 1  # worker types
HIGH, NORMAL, LOW = 2, 3, 4


def item(task_id: str, priority: int = NORMAL, ready_at: float = 0.0, **kw: int) -> Item:
    return Item(
        task_id,
        shard=kw.get("shard", 0),
        worker_type=kw.get("worker_type", GP),
        priority=priority,
        ready_at=ready_at,
    )


def ids(items: list[Item]) -> list[str]:
    return [i.task_id for i in items]


def test_higher_priorities_first_within_a_shard():
    queues = ReadyQueues(aging_step=10)
    for name, priority in [("bg", 5), ("low", 4), ("normal", 3), ("high", 2), ("critical", 1)]:
        queues.add(item(name, priority), now=0)
    assert ids(queues.take(GP, now=0, limit=10)) == ["critical", "high", "normal", "low", "bg"]
    assert len(queues) == 0


def test_same_priority_is_first_ready_first_served():
    queues = ReadyQueues(aging_step=10)
    for n, ready_at in enumerate([0.3, 0.1, 0.2]):
        queues.add(item(f"t{n}", ready_at=ready_at), now=1)
    assert ids(queues.take(GP, now=1, limit=3)) == ["t1", "t2", "t0"]


@pytest.mark.parametrize(
    ("priority", "waited", "level"),
    [(5, 0, 5), (5, 9.99, 5), (5, 10, 4), (5, 25, 3), (5, 40, 1), (5, 1000, 1), (2, 10, 1),
     (1, 0, 1), (3, -5, 3)],
)  # fmt: skip
def test_effective_level_rises_one_level_per_aging_step(priority, waited, level):
    assert effective_level(priority, ready_at=100, now=100 + waited, aging_step=10) == level


def test_aged_low_task_beats_a_fresh_high_one():
    queues = ReadyQueues(aging_step=1)
    queues.add(item("old-low", LOW, ready_at=0), now=0)
    queues.add(item("fresh-high", HIGH, ready_at=2.5), now=2.5)
    # at 2.5 s the LOW task is at level 4 - 2 = 2, like HIGH, and it has waited longer
    assert ids(queues.take(GP, now=2.5, limit=1)) == ["old-low"]


def test_no_starvation_under_a_flood_of_high():
    """10 HIGH tasks arrive per 100 ms and only 5 are served: without aging the LOW and
    BACKGROUND tasks would wait forever. The HIGH backlog ages to CRITICAL too, so each is
    served once it reaches CRITICAL, (priority - CRITICAL) * aging_step after it became
    ready, as the oldest task at that level."""
    step = 1.0
    queues = ReadyQueues(aging_step=step)
    queues.add(item("low", LOW), now=0)
    queues.add(item("background", BACKGROUND), now=0)
    served_at: dict[str, float] = {}
    for tick in range(1, 60):
        now = tick * 0.1
        for n in range(10):
            queues.add(item(f"high-{tick}-{n}", HIGH, ready_at=now), now=now)
        for taken in queues.take(GP, now=now, limit=5):
            served_at.setdefault(taken.task_id, now)
    assert served_at["low"] == pytest.approx((LOW - CRITICAL) * step)
    assert served_at["background"] == pytest.approx((BACKGROUND - CRITICAL) * step)
    assert len(queues) > 100  # the flood really outran the service


def test_without_flood_pressure_order_is_pure_priority():
    queues = ReadyQueues(aging_step=1)
    queues.add(item("low", LOW, ready_at=0), now=0)
    queues.add(item("high", HIGH, ready_at=0), now=0)
    assert ids(queues.take(GP, now=0.5, limit=2)) == ["high", "low"]


def test_not_before_tasks_wait_in_the_timer_heap():
    queues = ReadyQueues(aging_step=10)
    assert queues.add(item("later", ready_at=5), now=0) is False
    assert queues.add(item("now", ready_at=0), now=0) is True
    assert queues.next_due() == 5
    assert queues.delayed_count() == 1
    assert ids(queues.take(GP, now=4, limit=10)) == ["now"]
    assert queues.promote(now=4.9) == []
    assert ids(queues.promote(now=5)) == ["later"]
    assert ids(queues.take(GP, now=5, limit=10)) == ["later"]


def test_only_the_asked_worker_type_is_taken():
    queues = ReadyQueues(aging_step=10)
    queues.add(item("gp"), now=0)
    queues.add(item("cpu", CRITICAL, worker_type=CPU), now=0)
    assert ids(queues.take(GP, now=0, limit=10)) == ["gp"]
    assert ids(queues.take(CPU, now=0, limit=10)) == ["cpu"]


def test_paused_shard_keeps_its_tasks_until_resumed():
    queues = ReadyQueues(aging_step=10)
    queues.add(item("s0", shard=0), now=0)
    queues.add(item("s1", CRITICAL, shard=1), now=0)
    queues.paused_shards.add(1)
    assert ids(queues.take(GP, now=0, limit=10)) == ["s0"]
    queues.paused_shards.discard(1)
    assert ids(queues.take(GP, now=0, limit=10)) == ["s1"]


def test_paused_worker_type_dispatches_nothing():
    queues = ReadyQueues(aging_step=10)
    queues.add(item("gp"), now=0)
    queues.paused_types.add(GP)
    assert queues.take(GP, now=0, limit=10) == []
    queues.paused_types.discard(GP)
    assert ids(queues.take(GP, now=0, limit=10)) == ["gp"]


def test_removed_tasks_are_never_taken_ready_or_delayed():
    queues = ReadyQueues(aging_step=10)
    queues.add(item("ready"), now=0)
    queues.add(item("delayed", ready_at=5), now=0)
    queues.add(item("kept"), now=0)
    assert queues.remove("ready")
    assert queues.remove("delayed")
    assert not queues.remove("ready")
    assert queues.promote(now=10) == []
    assert ids(queues.take(GP, now=10, limit=10)) == ["kept"]


def test_re_adding_a_task_replaces_its_entry():
    queues = ReadyQueues(aging_step=10)
    queues.add(item("t", ready_at=0), now=0)
    queues.add(item("t", HIGH, ready_at=3), now=0)  # e.g. requeued for a retry
    assert queues.take(GP, now=0, limit=10) == []
    queues.promote(now=3)
    assert [(i.task_id, i.priority) for i in queues.take(GP, now=3, limit=10)] == [("t", HIGH)]


def test_depths_count_ready_tasks_and_the_oldest_wait():
    queues = ReadyQueues(aging_step=10)
    queues.add(item("a", ready_at=1), now=1)
    queues.add(item("b", ready_at=2), now=2)
    queues.add(item("c", HIGH, shard=3), now=2)
    queues.add(item("d", ready_at=9), now=2)  # delayed: not in a depth
    queues.remove("a")
    depths = {(d.shard, d.priority): (d.count, d.oldest_wait) for d in queues.depths(now=4)}
    assert depths == {(0, NORMAL): (1, 2.0), (3, HIGH): (1, 4.0)}


def owned(task_id: str, owner: str, ready_at: float = 0.0, **kw: int) -> Item:
    return Item(task_id, shard=kw.get("shard", 0), worker_type=GP,
                priority=kw.get("priority", NORMAL), ready_at=ready_at, owner=owner)  # fmt: skip


def test_one_owners_flood_does_not_starve_another_owners_task_at_the_same_priority():
    """10 000 tasks of one owner, spread over the shards, all ready before another owner's
    single task: that task is among the next two handed out, not the 10 001st."""
    queues = ReadyQueues(aging_step=10)
    for n in range(10_000):
        queues.add(owned(f"flood-{n}", "users/a", ready_at=n / 10_000, shard=n % 4), now=1)
    queues.add(owned("single", "users/b", ready_at=1.0, shard=2), now=1)
    assert "single" in ids(queues.take(GP, now=1, limit=2))


def test_owners_take_turns_within_a_priority_each_in_its_own_ready_order():
    queues = ReadyQueues(aging_step=10)
    for n in range(4):
        queues.add(owned(f"a{n}", "users/a", ready_at=n / 10, shard=n % 2), now=1)
    for n in range(2):
        queues.add(owned(f"b{n}", "users/b", ready_at=0.5 + n / 10), now=1)
    queues.add(owned("c0", "users/c", ready_at=0.9, shard=1), now=1)
    taken = ids(queues.take(GP, now=1, limit=7))
    assert taken[:3] == ["a0", "b0", "c0"]  # one each, in turn
    assert taken[3:] == ["a1", "b1", "a2", "a3"]
    assert [t for t in taken if t.startswith("a")] == ["a0", "a1", "a2", "a3"]


def test_an_owner_coming_back_waits_its_turn_instead_of_jumping_the_queue():
    """Turns are counted from now on, not from the beginning: an owner whose tasks were all
    served gets no credit for the time it was away."""
    queues = ReadyQueues(aging_step=10)
    for n in range(6):
        queues.add(owned(f"a{n}", "users/a", ready_at=n / 10), now=1)
    queues.add(owned("b0", "users/b", ready_at=0.0), now=1)
    assert ids(queues.take(GP, now=1, limit=2)) == ["a0", "b0"]
    assert ids(queues.take(GP, now=1, limit=2)) == ["a1", "a2"]
    queues.add(owned("b1", "users/b", ready_at=1.0), now=1)
    queues.add(owned("b2", "users/b", ready_at=1.0), now=1)
    assert ids(queues.take(GP, now=1, limit=4)) == ["b1", "a3", "b2", "a4"]


def test_priority_still_comes_before_turns():
    queues = ReadyQueues(aging_step=10)
    for n in range(3):
        queues.add(owned(f"a{n}", "users/a", priority=HIGH), now=0)
    queues.add(owned("b0", "users/b", priority=NORMAL), now=0)
    assert ids(queues.take(GP, now=0, limit=4)) == ["a0", "a1", "a2", "b0"]
