"""The hemisphere balance RPCs: the balance in force for the caller or one of their
conversations, and setting (or resetting) the user's own or a conversation's."""

from __future__ import annotations

from typing import TypeVar

from services.assistant import validation
from services.assistant.hemisphere import Balance, InForce
from services.assistant.rpcs.base import AssistantRpcs, Context
from voka import authn, wellknown
from voka.assistant.v1 import assistant_pb2

Answer = TypeVar(
    "Answer",
    assistant_pb2.GetHemisphereBalanceResponse,
    assistant_pb2.SetHemisphereBalanceResponse,
)


def _answer(answer: Answer, in_force: InForce) -> Answer:
    answer.balance.CopyFrom(in_force.balance.message())
    answer.source = in_force.source
    if in_force.update_time is not None:
        answer.update_time.CopyFrom(wellknown.timestamp(in_force.update_time))
    return answer


class HemisphereBalancesRpcs(AssistantRpcs):
    """A user's and a conversation's hemisphere balance."""

    async def _in_force(self, conversation: str) -> InForce:
        record = await self._conversation(conversation, "conversation") if conversation else None
        owner = record.owner if record else authn.caller().subject
        return await self._deps.balances.in_force(owner, record)

    async def GetHemisphereBalance(
        self, request: assistant_pb2.GetHemisphereBalanceRequest, context: Context
    ) -> assistant_pb2.GetHemisphereBalanceResponse:
        in_force = await self._in_force(request.conversation)
        answer = assistant_pb2.GetHemisphereBalanceResponse(conversation=request.conversation)
        return _answer(answer, in_force)

    async def SetHemisphereBalance(
        self, request: assistant_pb2.SetHemisphereBalanceRequest, context: Context
    ) -> assistant_pb2.SetHemisphereBalanceResponse:
        validation.require(validation.balance_setting(request))
        record = (
            await self._conversation(request.conversation, "conversation")
            if request.conversation
            else None
        )
        balance = None if request.reset else Balance.of(request.balance)
        await self._deps.balances.set(authn.caller().subject, record, balance)
        in_force = await self._in_force(request.conversation)
        answer = assistant_pb2.SetHemisphereBalanceResponse(conversation=request.conversation)
        return _answer(answer, in_force)
