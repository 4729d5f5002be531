"""Writes by one user at the same time all succeed (issue 15, item 2), on SQLite and on
PostgreSQL: 60 concurrent client creations and updates (an update reads the client, then
writes it, in one transaction)."""

from __future__ import annotations

from collections.abc import Awaitable

from tests.services.concurrency import failures
from tests.services.meetings.conftest import User, new_client
from voka.meetings.v1 import client_pb2, meetings_pb2

WRITES = 60


async def test_sixty_concurrent_client_creations_and_updates_all_succeed(alice: User) -> None:
    existing = [(await new_client(alice, display_name=f"old {n}")).name for n in range(3)]

    def write(n: int) -> Awaitable[object]:
        if n % 2:
            client = client_pb2.Client(display_name=f"new {n}")
            return alice.CreateClient(meetings_pb2.CreateClientRequest(client=client))
        change = client_pb2.Client(name=existing[n % 3], display_name=f"renamed {n}")
        return alice.UpdateClient(meetings_pb2.UpdateClientRequest(client=change))

    assert await failures(write(n) for n in range(WRITES)) == []
    listed = await alice.ListClients(meetings_pb2.ListClientsRequest(page_size=100))
    names = [c.display_name for c in listed.clients]
    assert sorted(n for n in names if n.startswith("new")) == sorted(
        f"new {n}" for n in range(1, WRITES, 2)
    )
    assert len([n for n in names if n.startswith("renamed")]) == len(existing)
