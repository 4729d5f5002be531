"""Writes by one user at the same time (issue 15, item 2): in the black-box run, 60 concurrent
`CreateApiKey` and `UpdatePreferences` gave 18 INTERNAL errors. On SQLite a transaction that
reads (the user) before it writes asked for the write lock only at its first write and got
"database is locked" at once; each must queue for the lock instead."""

from __future__ import annotations

from collections.abc import Awaitable

from google.protobuf import field_mask_pb2, struct_pb2

from tests.services.auth.conftest import bearer, signed_up
from tests.services.concurrency import failures
from voka.auth.v1 import auth_pb2, auth_pb2_grpc

WRITES = 60


def _preferences(n: int) -> auth_pb2.UpdatePreferencesRequest:
    """Sets one settings key of its own, `k<n>`, and nothing else."""
    settings = struct_pb2.Struct()
    settings.update({f"k{n}": n})
    return auth_pb2.UpdatePreferencesRequest(
        preferences=auth_pb2.Preferences(settings=settings),
        update_mask=field_mask_pb2.FieldMask(paths=[f"settings.k{n}"]),
    )


async def test_sixty_concurrent_key_creations_and_preference_updates_all_succeed(
    stub: auth_pb2_grpc.AuthServiceStub,
) -> None:
    me = bearer((await signed_up(stub)).access_token)

    def write(n: int) -> Awaitable[object]:
        if n % 2:
            key = auth_pb2.ApiKey(display_name=f"key {n}")
            return stub.CreateApiKey(
                auth_pb2.CreateApiKeyRequest(parent="users/me", api_key=key), metadata=me
            )
        return stub.UpdatePreferences(_preferences(n), metadata=me)

    assert await failures(write(n) for n in range(WRITES)) == []
    keys = await stub.ListApiKeys(
        auth_pb2.ListApiKeysRequest(parent="users/me", page_size=100), metadata=me
    )
    assert len(keys.api_keys) == WRITES // 2


async def test_concurrent_preference_updates_lose_none(
    stub: auth_pb2_grpc.AuthServiceStub,
) -> None:
    """Each update changes its own settings key: every key is there afterwards (on PostgreSQL
    the user row is read FOR UPDATE: under READ COMMITTED, updates merging into the settings
    read before another one committed would drop its key)."""
    me = bearer((await signed_up(stub)).access_token)
    updates = (stub.UpdatePreferences(_preferences(n), metadata=me) for n in range(WRITES))
    assert await failures(updates) == []
    got = await stub.GetPreferences(auth_pb2.GetPreferencesRequest(), metadata=me)
    assert sorted(got.preferences.settings) == sorted(f"k{n}" for n in range(WRITES))
