"""The assistant service's wiring: stores (hinting the conversation watch streams), model
providers, MCP tools, the embedder, memories and profiles, the chat loop, the bounded reply
slots, the completion consumer, the speech client and the servicer."""

from __future__ import annotations

from services.assistant.announce import Announcer
from services.assistant.balance_store import BalanceStore
from services.assistant.balances import Balances
from services.assistant.chat_loop import ChatLoop
from services.assistant.completion_store import CompletionStore
from services.assistant.completions import Completions
from services.assistant.conversation_store import ConversationStore
from services.assistant.embeddings.embedder import load_embedder
from services.assistant.erasure import eraser
from services.assistant.grant_store import GrantStore
from services.assistant.hemisphere import Balance
from services.assistant.images.attachments import Attachments
from services.assistant.images.limits import ImageLimits
from services.assistant.images.vision import VisionClient
from services.assistant.load import Load
from services.assistant.memory.extraction import RuleExtractor
from services.assistant.memory.memories import Memories
from services.assistant.memory.store import MemoryStore
from services.assistant.message_store import MessageStore
from services.assistant.profile.profiles import Profiles
from services.assistant.profile.store import ProfileStore
from services.assistant.providers.registry import ProviderRegistry
from services.assistant.replies import Replies
from services.assistant.rpcs import AssistantServicer, Deps
from services.assistant.rpcs.embeddings import EmbeddingServicer
from services.assistant.rpcs.openai import OpenAiServicer
from services.assistant.settings import AssistantSettings
from services.assistant.speech import SpeechClient
from services.assistant.standalone_chats import StandaloneChats
from services.assistant.status_figures import StatusFigures
from services.assistant.sync.feed import LiveSync
from services.assistant.sync.hints import ChangeHints
from services.assistant.tools import ToolBox
from services.assistant.transcripts import Transcripts
from services.assistant.turns import Turns
from voka import service_identity
from voka.erasure import erase_deleted_users
from voka.server import Registration, Resources, ServiceSpec, registration


async def build(resources: Resources) -> list[Registration]:
    settings = resources.settings_as(AssistantSettings)
    if (
        resources.sessions is None
        or resources.bus is None
        or resources.outbox is None
        or resources.engine is None
    ):
        raise RuntimeError("assistant needs its database and NATS")
    hints = ChangeHints(resources.bus)
    conversations = ConversationStore(resources.sessions, hints)
    messages = MessageStore(resources.sessions, resources.outbox, hints)
    completion_store = CompletionStore(resources.sessions)
    grants = GrantStore(resources.sessions)
    registry = ProviderRegistry.from_settings(settings)
    resources.on_stop.append(registry.aclose)
    tools = ToolBox.from_config(settings.assistant_mcp_config)
    await tools.start()
    resources.on_stop.append(tools.aclose)
    embedder = await load_embedder(settings)
    resources.on_stop.append(embedder.aclose)
    profiles = Profiles(ProfileStore(resources.sessions))
    memory_store = MemoryStore(resources.sessions, settings.assistant_memory_max_per_user)
    memories = Memories(
        memory_store,
        embedder,
        RuleExtractor(),
        profiles,
        count=settings.assistant_memory_top_k,
        budget=settings.assistant_memory_tokens,
    )
    technical = settings.assistant_default_technical
    default = Balance(technical, round(1 - technical, 6))
    balances = Balances(BalanceStore(resources.sessions), conversations, profiles, default)
    announcer = Announcer(resources.sessions, resources.outbox)
    loop = ChatLoop(
        registry,
        tools,
        tool_timeout=settings.assistant_tool_timeout,
        max_tool_rounds=settings.assistant_max_tool_rounds,
    )
    load = Load(settings.assistant_max_concurrent_replies, settings.assistant_max_queued_replies)
    replies = Replies(loop, load, announcer)
    identity = service_identity.from_env("assistant", settings.address_of("auth"))
    vision = VisionClient(
        service_identity.PeerChannels(settings, identity), settings.assistant_vision_timeout
    )
    resources.on_stop.append(vision.close)
    attachments = Attachments(vision)
    turns = Turns(
        conversations,
        messages,
        registry,
        tools,
        balances,
        grants=grants,
        replies=replies,
        announcer=announcer,
        memories=memories,
        profiles=profiles,
        attachments=attachments,
        max_output_tokens=settings.assistant_max_output_tokens,
        context_tokens=settings.assistant_context_tokens,
        transcript_tokens=settings.assistant_transcription_tokens,
    )
    chats = StandaloneChats(
        turns, balances, replies, announcer,
        attachments=attachments, max_output=settings.assistant_max_output_tokens,
    )  # fmt: skip
    completions = Completions(completion_store, resources.bus, turns, chats, replies)
    await completions.start(settings.assistant_completion_workers)
    resources.on_stop.append(completions.stop)
    await erase_deleted_users(resources.bus, "assistant", eraser(resources.sessions))
    speech = SpeechClient(
        settings.address_of("speech"), identity, settings.assistant_speech_timeout
    )
    resources.on_stop.append(speech.close)
    deps = Deps(
        conversations=conversations,
        messages=messages,
        completion_store=completion_store,
        grants=grants,
        registry=registry,
        tools=tools,
        balances=balances,
        turns=turns,
        chats=chats,
        replies=replies,
        completions=completions,
        speech=speech,
        memories=memories,
        memory_store=memory_store,
        profiles=profiles,
        status=StatusFigures(resources.engine, balances, completion_store),
        transcripts=Transcripts(speech),
        live=LiveSync.of(settings, resources.bus, conversations, messages),
        kinds={p.name: p.kind for p in settings.providers},
        image_limits=ImageLimits(
            settings.assistant_image_max_count, settings.assistant_image_max_bytes
        ),
        max_output_tokens=settings.assistant_max_output_tokens,
        tool_timeout=settings.assistant_tool_timeout,
    )
    return [
        registration(AssistantServicer(deps)),
        registration(OpenAiServicer(deps)),
        registration(EmbeddingServicer(embedder)),
    ]


SPEC = ServiceSpec(name="assistant", build=build, database=True)
