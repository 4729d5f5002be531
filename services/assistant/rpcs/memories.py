"""Memory RPCs: list, read, create, edit and delete what the assistant remembers about the caller.
Callers see their own memories, admins anyone's (`voka.tenancy`); someone else's is NOT_FOUND.
Deleting removes the row and its vector: the memory never reaches a prompt again."""

from __future__ import annotations

from services.assistant import validation
from services.assistant.memory import convert
from services.assistant.memory import validation as checks
from services.assistant.memory.records import MemoryRecord
from services.assistant.rpcs.base import AssistantRpcs, Context
from voka import authn, errors, pagination, tenancy
from voka.assistant.v1 import assistant_pb2


class MemoriesRpcs(AssistantRpcs):
    """A user's memories."""

    async def _memory(self, name: str, path: str) -> MemoryRecord:
        memory_id, problems = validation.resource_id(name, "memories", path)
        validation.require(problems)
        return tenancy.visible(await self._deps.memory_store.get(memory_id), "Memory", name)

    async def ListMemories(
        self, request: assistant_pb2.ListMemoriesRequest, context: Context
    ) -> assistant_pb2.ListMemoriesResponse:
        owner = tenancy.list_owner(request.owner)
        key = pagination.fingerprint(owner)
        size, problems = pagination.page_size(request.page_size)
        after, bad = pagination.keyset_cursor(request.page_token, key)
        validation.require(problems + bad)
        records, more = await self._deps.memory_store.page(owner, after, size)
        last = records[-1] if records and more else None
        token = pagination.keyset_token(key, last.create_time, last.id) if last else ""
        return assistant_pb2.ListMemoriesResponse(
            memories=[convert.memory(r) for r in records], next_page_token=token
        )

    async def GetMemory(
        self, request: assistant_pb2.GetMemoryRequest, context: Context
    ) -> assistant_pb2.GetMemoryResponse:
        record = await self._memory(request.name, "name")
        return assistant_pb2.GetMemoryResponse(memory=convert.memory(record))

    async def CreateMemory(
        self, request: assistant_pb2.CreateMemoryRequest, context: Context
    ) -> assistant_pb2.CreateMemoryResponse:
        validation.require(checks.memory(request.memory, checks.MEMORY_FIELDS))
        owner = authn.caller().subject
        if not await self._deps.memories.enabled(owner):
            raise errors.failed_precondition("memory is off for this user (Profile.memory_enabled)")
        record = await self._deps.memories.create(
            owner, request.memory.content.strip(), checks.kind_of(request.memory)
        )
        return assistant_pb2.CreateMemoryResponse(memory=convert.memory(record))

    async def UpdateMemory(
        self, request: assistant_pb2.UpdateMemoryRequest, context: Context
    ) -> assistant_pb2.UpdateMemoryResponse:
        _, fields, problems = checks.memory_update(request)
        validation.require(problems)
        record = await self._memory(request.memory.name, "memory.name")
        content = request.memory.content.strip() if "content" in fields else record.content
        kind = checks.kind_of(request.memory) if "kind" in fields else record.kind
        changed = await self._deps.memories.rewrite(record, content, kind)
        return assistant_pb2.UpdateMemoryResponse(memory=convert.memory(changed))

    async def DeleteMemory(
        self, request: assistant_pb2.DeleteMemoryRequest, context: Context
    ) -> assistant_pb2.DeleteMemoryResponse:
        record = await self._memory(request.name, "name")
        await self._deps.memories.forget(record)
        return assistant_pb2.DeleteMemoryResponse()
