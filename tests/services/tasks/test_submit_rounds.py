"""Concurrent unary SubmitTask calls share submit rounds (one transaction, one scheduler wake-up
for many calls: `intake.py`), and each call still gets its own answer: its own task, its own
deduplication, its own refusal."""

from __future__ import annotations

import asyncio

import grpc
from prometheus_client import REGISTRY

from tests.fixtures.tokens import TokenFactory
from tests.services.tasks.conftest import wait_final
from tests.services.tasks.test_service import submit, violations
from voka.tasks.v1 import tasks_pb2

CALLS = 40  # valid unary submits in flight at once
ROUNDS = "voka_tasks_submit_round_size"


def rounds_so_far() -> tuple[float, float]:
    """(rounds, tasks stored by them) since the process started."""
    count = REGISTRY.get_sample_value(f"{ROUNDS}_count") or 0.0
    stored = REGISTRY.get_sample_value(f"{ROUNDS}_sum") or 0.0
    return count, stored


async def test_concurrent_unary_submits_share_rounds_and_each_gets_its_own_answer(
    stub, tokens: TokenFactory
):
    me = tokens.metadata(subject="users/rounds")
    requests = [submit("math.add", a=index, b=1000) for index in range(CALLS)]
    bad = submit("math.add", a="seven", b=1)  # the one refused, sent among the others
    keyed = [submit("math.add", a=-1, b=-1) for _ in range(2)]  # the same key, at once
    for request in keyed:
        request.idempotency_key = "rounds-once"
    rounds, stored = rounds_so_far()

    calls = [stub.SubmitTask(r, metadata=me) for r in [*requests[:20], bad, *keyed, *requests[20:]]]
    answers = await asyncio.gather(*calls, return_exceptions=True)

    refused = answers[20]
    assert isinstance(refused, grpc.aio.AioRpcError)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(refused)) == {"args.a"}
    accepted = [a for a in answers if not isinstance(a, BaseException)]
    assert len(accepted) == CALLS + 2, [a for a in answers if isinstance(a, BaseException)]
    first, second = answers[21], answers[22]
    assert isinstance(first, tasks_pb2.SubmitTaskResponse)
    assert isinstance(second, tasks_pb2.SubmitTaskResponse)
    assert first.name == second.name
    assert sorted([first.deduplicated, second.deduplicated]) == [False, True]
    own = [a for a in answers[:20] + answers[23:] if isinstance(a, tasks_pb2.SubmitTaskResponse)]
    names = {a.name for a in own}
    assert len(names) == CALLS
    assert first.name not in names

    after_rounds, after_stored = rounds_so_far()
    assert after_stored - stored == CALLS + 2  # every accepted call went through a round
    assert 1 <= after_rounds - rounds < CALLS  # and they shared them

    results = await asyncio.gather(*(wait_final(stub, a.name, me) for a in own))
    assert [task.result.number_value for task in results] == [i + 1000 for i in range(CALLS)]
    assert (await wait_final(stub, first.name, me)).result.number_value == -2
