"""Field checks of the assistant's requests, each reporting every bad field at once with its
path in the request (`conversation.display_name`, `sampling.temperature`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from services.assistant import hemisphere
from voka import errors
from voka.assistant.v1 import assistant_pb2
from voka.errors import FieldViolation

MAX_MESSAGE = 32000
MAX_TITLE = 200
MAX_INSTRUCTIONS = 8000
MAX_REQUEST_ID = 128
MAX_STOP_SEQUENCES = 4
TOOL_TIMEOUT = (1.0, 600.0)
SILENCE_SECONDS = (0.1, 5.0)
UPDATABLE = ("display_name", "model", "instructions", "context", "hemisphere", "tool_policy")
_ID = re.compile(r"^[0-9a-f]{32}$")
_GRANT = re.compile(r"^(users/[^/]{1,194})/mcpGrant$")  # the owner fits its 200 characters
_TOOL = re.compile(r"^servers/[A-Za-z0-9_.-]+/tools/([A-Za-z0-9_.-]+|-)$")

Violations = list[FieldViolation]
Knob = Literal["temperature", "top_p", "presence_penalty", "frequency_penalty"]


def resource_id(name: str, collection: str, path: str) -> tuple[str, Violations]:
    """The id in `{collection}/{id}`, or a violation naming the expected shape."""
    found = name.removeprefix(f"{collection}/")
    if name.startswith(f"{collection}/") and _ID.match(found):
        return found, []
    return "", [FieldViolation(path, f"must be {collection}/{{id}}")]


def server_name(name: str, path: str = "name") -> tuple[str, Violations]:
    """The server in `servers/{server}`, or a violation naming the expected shape."""
    server = name.removeprefix("servers/")
    if name.startswith("servers/") and server:
        return server, []
    return "", [FieldViolation(path, "must be servers/{server}")]


def grant_owner(name: str, path: str = "name") -> tuple[str, Violations]:
    """The user (`users/{user}`) in `users/{user}/mcpGrant`, or a violation naming the shape."""
    found = _GRANT.match(name)
    if found is not None:
        return found.group(1), []
    return "", [FieldViolation(path, "must be users/{user}/mcpGrant")]


def grant_update(request: assistant_pb2.UpdateMcpGrantRequest) -> tuple[str, Violations]:
    """UpdateMcpGrant's user, and what is wrong with the request: the grant's name, its tools,
    and a mask naming anything but `allowed_tools`."""
    owner, problems = grant_owner(request.mcp_grant.name, "mcp_grant.name")
    problems += tools(request.mcp_grant.allowed_tools, "mcp_grant.allowed_tools")
    others = sorted(set(request.update_mask.paths) - {"allowed_tools"})
    problems += [FieldViolation("update_mask", f"cannot update {path!r}") for path in others]
    return owner, problems


def require(violations: Violations) -> None:
    """Raise INVALID_ARGUMENT when anything was wrong."""
    if violations:
        raise errors.invalid_argument(violations)


def text(value: str, path: str, limit: int, required: bool = False) -> Violations:
    if required and not value.strip():
        return [FieldViolation(path, "is required")]
    if len(value) > limit:
        return [FieldViolation(path, f"at most {limit} characters")]
    return []


def request_id(value: str, path: str = "request_id") -> Violations:
    return text(value, path, MAX_REQUEST_ID)


def sampling(options: assistant_pb2.SamplingOptions, path: str = "sampling") -> Violations:
    """Each knob within its documented range."""
    ranges: dict[Knob, tuple[float, float]] = {
        "temperature": (0.0, 2.0),
        "top_p": (0.0, 1.0),
        "presence_penalty": (-2.0, 2.0),
        "frequency_penalty": (-2.0, 2.0),
    }
    problems = [
        FieldViolation(f"{path}.{field}", f"must be between {low:g} and {high:g}")
        for field, (low, high) in ranges.items()
        if options.HasField(field) and not low <= getattr(options, field) <= high
    ]
    if options.top_k < 0:
        problems.append(FieldViolation(f"{path}.top_k", "must not be negative"))
    if options.max_output_tokens < 0:
        problems.append(FieldViolation(f"{path}.max_output_tokens", "must not be negative"))
    if len(options.stop_sequences) > MAX_STOP_SEQUENCES:
        problems.append(FieldViolation(f"{path}.stop_sequences", "at most 4"))
    return problems


def balance(message: assistant_pb2.HemisphereBalance, present: bool, path: str) -> Violations:
    return hemisphere.check(message, path) if present else []


def turn(
    request: assistant_pb2.ProcessMessageRequest | assistant_pb2.StreamReplyRequest,
) -> Violations:
    """ProcessMessage and StreamReply share their input fields."""
    problems = text(request.message, "message", MAX_MESSAGE, required=True)
    if request.conversation:
        problems += resource_id(request.conversation, "conversations", "conversation")[1]
    problems += sampling(request.sampling)
    problems += balance(request.hemisphere, request.HasField("hemisphere"), "hemisphere")
    return problems + request_id(request.request_id)


def tool_policy(policy: assistant_pb2.ToolPolicy, path: str) -> Violations:
    problems = tools(policy.allowed_tools, f"{path}.allowed_tools")
    if policy.HasField("tool_timeout"):
        seconds = policy.tool_timeout.ToTimedelta().total_seconds()
        if not TOOL_TIMEOUT[0] <= seconds <= TOOL_TIMEOUT[1]:
            problems.append(FieldViolation(f"{path}.tool_timeout", "must be 1s to 10min"))
    return problems


def tools(names: Iterable[str], path: str) -> Violations:
    return [
        FieldViolation(f"{path}[{i}]", "must be servers/{server}/tools/{tool} or .../tools/-")
        for i, name in enumerate(names)
        if not _TOOL.match(name)
    ]


def conversation_fields(
    conversation: assistant_pb2.Conversation, fields: set[str], path: str = "conversation"
) -> Violations:
    """The settable fields among `fields`."""
    problems: Violations = []
    if "display_name" in fields:
        problems += text(conversation.display_name, f"{path}.display_name", MAX_TITLE)
    if "instructions" in fields:
        problems += text(conversation.instructions, f"{path}.instructions", MAX_INSTRUCTIONS)
    if "hemisphere" in fields:
        problems += balance(
            conversation.hemisphere, conversation.HasField("hemisphere"), f"{path}.hemisphere"
        )
    if "tool_policy" in fields:
        problems += tool_policy(conversation.tool_policy, f"{path}.tool_policy")
    return problems


def completion(message: assistant_pb2.Completion, path: str = "completion") -> Violations:
    """A completion's input fields."""
    problems = text(message.prompt, f"{path}.prompt", MAX_MESSAGE)
    if not message.prompt.strip() and not message.messages:
        problems.append(FieldViolation(f"{path}.prompt", "prompt or messages is required"))
    problems += text(message.instructions, f"{path}.instructions", MAX_INSTRUCTIONS)
    problems += chat_messages(message.messages, f"{path}.messages", required=False)
    if message.conversation:
        problems += resource_id(message.conversation, "conversations", f"{path}.conversation")[1]
    problems += sampling(message.sampling, f"{path}.sampling")
    problems += balance(message.hemisphere, message.HasField("hemisphere"), f"{path}.hemisphere")
    return problems + tools(message.tools, f"{path}.tools")


def chat_messages(
    messages: Iterable[assistant_pb2.ChatMessage], path: str = "messages", required: bool = True
) -> Violations:
    """CompleteChat's message list: a role on each, a bounded text."""
    items = list(messages)
    if required and not items:
        return [FieldViolation(path, "at least one message is required")]
    problems: Violations = []
    for i, message in enumerate(items):
        if message.role == assistant_pb2.MESSAGE_ROLE_UNSPECIFIED:
            problems.append(FieldViolation(f"{path}[{i}].role", "is required"))
        problems += text(message.content, f"{path}[{i}].content", MAX_MESSAGE)
    return problems


def known_model(model: str, known: Iterable[str], path: str) -> Violations:
    return [] if model in set(known) else [FieldViolation(path, f"unknown model {model!r}")]


def update_fields(request: assistant_pb2.UpdateConversationRequest) -> set[str]:
    """The fields to change: the mask's (INVALID_ARGUMENT naming any it cannot update), or
    every populated settable field."""
    if request.HasField("update_mask") and request.update_mask.paths:
        fields = set(request.update_mask.paths)
        unknown = sorted(fields - set(UPDATABLE))
        require([FieldViolation("update_mask", f"cannot update {p!r}") for p in unknown])
        return fields
    populated = {f.name for f, _ in request.conversation.ListFields()}
    return populated & set(UPDATABLE)


def balance_setting(request: assistant_pb2.SetHemisphereBalanceRequest) -> Violations:
    """A balance to set, or `reset` without one."""
    present = request.HasField("balance")
    if request.reset and present:
        return [FieldViolation("balance", "must be unset with reset")]
    if not request.reset and not present:
        return [FieldViolation("balance", "is required unless reset")]
    problems = hemisphere.check(request.balance, "balance") if present else []
    if request.conversation:
        problems += resource_id(request.conversation, "conversations", "conversation")[1]
    return problems


def voice_chat_config(config: assistant_pb2.VoiceChatConfig) -> Violations:
    """StreamVoiceChat's first message."""
    problems: Violations = []
    if config.conversation:
        problems += resource_id(config.conversation, "conversations", "config.conversation")[1]
    rate = config.input_sample_rate_hertz
    if rate and not 8000 <= rate <= 48000:
        problems.append(FieldViolation("config.input_sample_rate_hertz", "8000 to 48000"))
    if config.input_encoding == assistant_pb2.AUDIO_ENCODING_MP3:
        problems.append(FieldViolation("config.input_encoding", "MP3 is output only"))
    if config.HasField("end_of_utterance_silence"):
        seconds = config.end_of_utterance_silence.ToTimedelta().total_seconds()
        if not SILENCE_SECONDS[0] <= seconds <= SILENCE_SECONDS[1]:
            problems.append(FieldViolation("config.end_of_utterance_silence", "100ms to 5s"))
    problems += sampling(config.sampling, "config.sampling")
    problems += balance(config.hemisphere, config.HasField("hemisphere"), "config.hemisphere")
    return problems
