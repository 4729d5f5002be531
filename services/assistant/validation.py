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

A = assistant_pb2
MAX_MESSAGE = 32000
MAX_TITLE = 200
MAX_INSTRUCTIONS = 8000
MAX_REQUEST_ID = 128
MAX_STOP_SEQUENCES = 4
TOOL_TIMEOUT = (1.0, 600.0)
_ID = re.compile(r"^[0-9a-f]{32}$")
_TOOL = re.compile(r"^servers/[A-Za-z0-9_.-]+/tools/([A-Za-z0-9_.-]+|-)$")

Violations = list[FieldViolation]
Knob = Literal["temperature", "top_p", "presence_penalty", "frequency_penalty"]


def resource_id(name: str, collection: str, path: str) -> tuple[str, Violations]:
    """The id in `{collection}/{id}`, or a violation naming the expected shape."""
    found = name.removeprefix(f"{collection}/")
    if name.startswith(f"{collection}/") and _ID.match(found):
        return found, []
    return "", [FieldViolation(path, f"must be {collection}/{{id}}")]


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


def sampling(options: A.SamplingOptions, path: str = "sampling") -> Violations:
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


def balance(message: A.HemisphereBalance, present: bool, path: str) -> Violations:
    return hemisphere.check(message, path) if present else []


def turn(request: A.ProcessMessageRequest | A.StreamReplyRequest) -> Violations:
    """ProcessMessage and StreamReply share their input fields."""
    problems = text(request.message, "message", MAX_MESSAGE, required=True)
    if request.conversation:
        problems += resource_id(request.conversation, "conversations", "conversation")[1]
    problems += sampling(request.sampling)
    problems += balance(request.hemisphere, request.HasField("hemisphere"), "hemisphere")
    return problems + request_id(request.request_id)


def tool_policy(policy: A.ToolPolicy, path: str) -> Violations:
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
    conversation: A.Conversation, fields: set[str], path: str = "conversation"
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


def completion(message: A.Completion, path: str = "completion") -> Violations:
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
    messages: Iterable[A.ChatMessage], path: str = "messages", required: bool = True
) -> Violations:
    """CompleteChat's message list: a role on each, a bounded text."""
    items = list(messages)
    if required and not items:
        return [FieldViolation(path, "at least one message is required")]
    problems: Violations = []
    for i, message in enumerate(items):
        if message.role == A.MESSAGE_ROLE_UNSPECIFIED:
            problems.append(FieldViolation(f"{path}[{i}].role", "is required"))
        problems += text(message.content, f"{path}[{i}].content", MAX_MESSAGE)
    return problems
