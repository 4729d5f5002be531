"""AssistantService: every RPC of the contract, one class per resource, joined here.

Tenancy: callers see their own conversations and completions, admins everyone's; someone
else's is NOT_FOUND, never PERMISSION_DENIED (its existence is not revealed). The rule is the
kit's (`voka.tenancy`), applied in `base.AssistantRpcs._conversation` and per resource."""

from __future__ import annotations

from services.assistant.rpcs.base import Deps
from services.assistant.rpcs.chats import ChatsRpcs
from services.assistant.rpcs.completions import CompletionsRpcs
from services.assistant.rpcs.conversations import ConversationsRpcs
from services.assistant.rpcs.feedback import FeedbackRpcs
from services.assistant.rpcs.hemisphere_balances import HemisphereBalancesRpcs
from services.assistant.rpcs.mcp_grants import McpGrantsRpcs
from services.assistant.rpcs.mcp_servers import McpServersRpcs
from services.assistant.rpcs.memories import MemoriesRpcs
from services.assistant.rpcs.models import ModelsRpcs
from services.assistant.rpcs.profile import ProfileRpcs
from services.assistant.rpcs.replies import RepliesRpcs
from services.assistant.rpcs.status import StatusRpcs
from services.assistant.rpcs.voice_chats import VoiceChatsRpcs
from voka.assistant.v1 import assistant_pb2_grpc

__all__ = ["AssistantServicer", "Deps"]


class AssistantServicer(
    ConversationsRpcs,
    HemisphereBalancesRpcs,
    RepliesRpcs,
    ChatsRpcs,
    VoiceChatsRpcs,
    CompletionsRpcs,
    ModelsRpcs,
    StatusRpcs,
    McpServersRpcs,
    McpGrantsRpcs,
    MemoriesRpcs,
    ProfileRpcs,
    FeedbackRpcs,
    assistant_pb2_grpc.AssistantServiceServicer,
):
    """The assistant's RPCs."""
