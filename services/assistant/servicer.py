"""AssistantService: every RPC of the contract, grouped by concern in the mixins it is made of.
Tenancy: callers see their own conversations and completions, admins everyone's; someone
else's is NOT_FOUND, never PERMISSION_DENIED (its existence is not revealed)."""

from __future__ import annotations

from services.assistant.deps import Deps
from services.assistant.rpc_catalog import CatalogRpcs
from services.assistant.rpc_completions import CompletionRpcs
from services.assistant.rpc_conversations import ConversationRpcs
from services.assistant.rpc_voice import VoiceRpcs
from voka.assistant.v1 import assistant_pb2_grpc


class AssistantServicer(
    VoiceRpcs,
    ConversationRpcs,
    CatalogRpcs,
    CompletionRpcs,
    assistant_pb2_grpc.AssistantServiceServicer,
):
    """The assistant's RPCs."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
