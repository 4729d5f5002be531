"""An OpenAI chat completion request body, parsed and checked into the stand-alone chat types.

Every wrong field is reported at once, named as OpenAI names it (`messages[2].content`,
`max_tokens`, `n`), as INVALID_ARGUMENT. Fields this API does not know are ignored, as OpenAI
ignores them; `null` counts as absent wherever OpenAI allows it. Ranges that CompleteChat checks
(temperature, top_p, penalties, stop sequences, message length) are checked by the same code
(`services.assistant.validation`), only renamed to OpenAI's field names.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from services.assistant import validation
from services.assistant.providers.base import ModelInfo, ToolSpec
from voka import errors
from voka.assistant.v1 import assistant_pb2
from voka.errors import FieldViolation

MAX_BODY_BYTES = 1024 * 1024
MAX_MESSAGES = 256
MAX_TOOLS = 64
MAX_PARTS = 64
Images = RepeatedCompositeFieldContainer[assistant_pb2.ImageAttachment]
MAX_TOOL_CALLS = 16
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# `developer` is OpenAI's newer name for `system` (o1 and later); both are the system prompt.
ROLES = {
    "system": assistant_pb2.MESSAGE_ROLE_SYSTEM,
    "developer": assistant_pb2.MESSAGE_ROLE_SYSTEM,
    "user": assistant_pb2.MESSAGE_ROLE_USER,
    "assistant": assistant_pb2.MESSAGE_ROLE_ASSISTANT,
    "tool": assistant_pb2.MESSAGE_ROLE_TOOL,
}
TOOL_CHOICES = ("none", "auto", "required")


@dataclass(frozen=True)
class ChatCompletionAsk:
    """What a request asks, in the chat machinery's types."""

    messages: list[assistant_pb2.ChatMessage]
    model: str = ""
    sampling: assistant_pb2.SamplingOptions = field(default_factory=assistant_pb2.SamplingOptions)
    max_tokens_field: str = "max_tokens"  # the field the caller set the limit with
    stream: bool = False
    include_usage: bool = False
    tools: tuple[ToolSpec, ...] = ()  # the caller's functions; empty with tool_choice "none"

    @property
    def own_system(self) -> bool:
        """Whether the caller wrote its own system prompt (then the persona is left out)."""
        return any(m.role == assistant_pb2.MESSAGE_ROLE_SYSTEM for m in self.messages)


class _Fields:
    """Typed reads of JSON fields; each wrong one becomes a violation and reads as absent."""

    def __init__(self) -> None:
        self.problems: list[FieldViolation] = []

    def bad(self, path: str, description: str) -> None:
        self.problems.append(FieldViolation(path, description))

    def get(
        self,
        holder: dict[str, Any],
        key: str,
        path: str,
        check: Callable[[Any], bool],
        kind: str,
        *,
        required: bool = False,
    ) -> Any:
        value = holder.get(key)
        if value is None:
            if required:
                self.bad(path, "is required")
            return None
        if not check(value):
            self.bad(path, f"must be {kind}")
            return None
        return value

    def string(
        self, holder: dict[str, Any], key: str, path: str, required: bool = False
    ) -> str | None:
        found: str | None = self.get(holder, key, path, _is(str), "a string", required=required)
        return found

    def number(self, holder: dict[str, Any], key: str, path: str) -> float | None:
        found = self.get(holder, key, path, _is_number, "a number")
        return None if found is None else float(found)

    def integer(self, holder: dict[str, Any], key: str, path: str) -> int | None:
        found: int | None = self.get(holder, key, path, _is_integer, "an integer")
        return found

    def boolean(self, holder: dict[str, Any], key: str, path: str) -> bool | None:
        found: bool | None = self.get(holder, key, path, _is(bool), "a boolean")
        return found

    def mapping(
        self, holder: dict[str, Any], key: str, path: str, required: bool = False
    ) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.get(holder, key, path, _is(dict), "an object",
                                                required=required)  # fmt: skip
        return found

    def array(
        self, holder: dict[str, Any], key: str, path: str, limit: int, required: bool = False
    ) -> list[Any] | None:
        found: list[Any] | None = self.get(
            holder, key, path, _is(list), "an array", required=required
        )
        if found is not None and len(found) > limit:
            self.bad(path, f"at most {limit} items")
            return None
        return found


def _is(kind: type) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, kind)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def body_json(data: bytes) -> dict[str, Any]:
    """The body as a JSON object: empty, over MAX_BODY_BYTES, not JSON or not an object is
    INVALID_ARGUMENT naming `body`."""
    if len(data) > MAX_BODY_BYTES:
        raise errors.invalid_argument([FieldViolation("body", f"at most {MAX_BODY_BYTES} bytes")])
    try:
        parsed = json.loads(data) if data.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.invalid_argument([FieldViolation("body", f"not JSON: {exc}")]) from exc
    if not isinstance(parsed, dict):
        raise errors.invalid_argument([FieldViolation("body", "must be a JSON object")])
    return parsed


def parse(data: bytes) -> ChatCompletionAsk:
    """A request body as the chat it asks for; INVALID_ARGUMENT listing every wrong field."""
    body = body_json(data)
    fields = _Fields()
    items = fields.array(body, "messages", "messages", MAX_MESSAGES, required=True)
    messages = [_message(fields, item, f"messages[{i}]") for i, item in enumerate(items or ())]
    sampling, limit_field = _sampling(fields, body)
    stream = bool(fields.boolean(body, "stream", "stream"))
    options = fields.mapping(body, "stream_options", "stream_options")
    if options is not None and not stream:
        fields.bad("stream_options", "is only allowed when stream is true")
    include_usage = options is not None and bool(
        fields.boolean(options, "include_usage", "stream_options.include_usage")
    )
    n = fields.integer(body, "n", "n")
    if n is not None and n != 1:
        fields.bad("n", "only 1 choice per request is supported")
    fields.string(body, "user", "user")
    tools = _tools(fields, body)
    model = fields.string(body, "model", "model") or ""
    problems = fields.problems + _unreported(validation.chat_messages(messages), fields.problems)
    problems += [_renamed(p, limit_field) for p in validation.sampling(sampling)]
    validation.require(problems)
    return ChatCompletionAsk(
        messages=messages,
        model=model,
        sampling=sampling,
        max_tokens_field=limit_field,
        stream=stream,
        include_usage=include_usage,
        tools=tools,
    )


def _message(fields: _Fields, item: Any, path: str) -> assistant_pb2.ChatMessage:
    message = assistant_pb2.ChatMessage()
    if not isinstance(item, dict):
        fields.bad(path, "must be an object")
        return message
    role = fields.string(item, "role", f"{path}.role", required=True)
    if role is not None and role not in ROLES:
        fields.bad(f"{path}.role", f"must be one of {', '.join(ROLES)}")
    message.role = ROLES.get(role or "", assistant_pb2.MESSAGE_ROLE_UNSPECIFIED)
    content = _content(fields, item.get("content"), f"{path}.content", message.images)
    if message.images and role != "user":
        fields.bad(f"{path}.content", "only user messages may carry images")
    if content is None and role not in ("assistant", None):
        fields.bad(f"{path}.content", "is required")
    message.content = content or ""
    if role == "assistant":
        message.tool_calls.extend(_tool_calls(fields, item, f"{path}.tool_calls"))
    if role == "tool":
        call_id = fields.string(item, "tool_call_id", f"{path}.tool_call_id", required=True)
        message.tool_call_id = call_id or ""
    return message


def _content(fields: _Fields, content: Any, path: str, images: Images) -> str | None:
    """A string, or a list of text parts joined by newlines and `image_url` parts (added to
    `images`); other part types are refused."""
    if content is None or isinstance(content, str):
        return content
    if not isinstance(content, list):
        fields.bad(path, "must be a string or an array of content parts")
        return None
    if len(content) > MAX_PARTS:
        fields.bad(path, f"at most {MAX_PARTS} parts")
        return None
    texts = []
    for i, part in enumerate(content):
        part_path = f"{path}[{i}]"
        if not isinstance(part, dict):
            fields.bad(part_path, "must be an object")
            continue
        if part.get("type") == "image_url":
            _image(fields, part, part_path, images)
            continue
        if part.get("type") not in ("text", "refusal"):
            fields.bad(f"{part_path}.type", "only text and image_url parts are supported")
            continue
        key = str(part["type"])
        texts.append(fields.string(part, key, f"{part_path}.{key}", required=True) or "")
    return "\n".join(texts)


def _image(fields: _Fields, part: dict[str, Any], path: str, images: Images) -> None:
    """An `image_url` part's image, inline as a base64 `data:` URL (remote URLs are never
    fetched); its type and size are checked with the message (`images.limits`)."""
    image_url = fields.mapping(part, "image_url", f"{path}.image_url", required=True) or {}
    url = fields.string(image_url, "url", f"{path}.image_url.url", required=True) or ""
    head, _, encoded = url.partition(",")
    if not (head.startswith("data:") and head.endswith(";base64")):
        fields.bad(f"{path}.image_url.url", "must be a data: URL with base64 image bytes")
        return
    try:
        images.add(data=base64.b64decode(encoded, validate=True))
    except binascii.Error:
        fields.bad(f"{path}.image_url.url", "is not valid base64")


def _tool_calls(fields: _Fields, item: dict[str, Any], path: str) -> list[assistant_pb2.ToolCall]:
    calls = []
    for i, call in enumerate(fields.array(item, "tool_calls", path, MAX_TOOL_CALLS) or ()):
        call_path = f"{path}[{i}]"
        if not isinstance(call, dict):
            fields.bad(call_path, "must be an object")
            continue
        call_id = fields.string(call, "id", f"{call_path}.id", required=True)
        function = fields.mapping(call, "function", f"{call_path}.function", required=True)
        if function is None:
            continue
        name_path, arguments_path = f"{call_path}.function.name", f"{call_path}.function.arguments"
        name = fields.string(function, "name", name_path, required=True)
        text = fields.string(function, "arguments", arguments_path) or "{}"
        message = assistant_pb2.ToolCall(id=call_id or "", tool=name or "")
        try:
            arguments = json.loads(text)
            message.arguments.update(arguments)
        except (json.JSONDecodeError, ValueError, TypeError, AttributeError):
            fields.bad(arguments_path, "must be a JSON object, as a string")
        calls.append(message)
    return calls


def _sampling(fields: _Fields, body: dict[str, Any]) -> tuple[assistant_pb2.SamplingOptions, str]:
    """The sampling options, and which of max_completion_tokens / max_tokens set the limit
    (max_completion_tokens wins, as OpenAI's newer name)."""
    options = assistant_pb2.SamplingOptions()
    for knob in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        value = fields.number(body, knob, knob)
        if value is not None:
            setattr(options, knob, value)
    limit_field = (
        "max_completion_tokens" if body.get("max_completion_tokens") is not None else ("max_tokens")
    )
    limit = fields.integer(body, limit_field, limit_field)
    if limit is not None and not 1 <= limit <= 2**31 - 1:
        fields.bad(limit_field, "must be at least 1")
    elif limit is not None:
        options.max_output_tokens = limit
    options.stop_sequences.extend(_stop(fields, body.get("stop")))
    seed = fields.integer(body, "seed", "seed")
    if seed is not None and -(2**63) <= seed < 2**63:
        options.seed = seed
    return options, limit_field


def _stop(fields: _Fields, stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return list(stop)
    fields.bad("stop", "must be a string or an array of strings")
    return []


def _tools(fields: _Fields, body: dict[str, Any]) -> tuple[ToolSpec, ...]:
    specs = []
    for i, tool in enumerate(fields.array(body, "tools", "tools", MAX_TOOLS) or ()):
        path = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            fields.bad(f"{path}.type", "must be function")
            continue
        function = fields.mapping(tool, "function", f"{path}.function", required=True)
        if function is None:
            continue
        name = fields.string(function, "name", f"{path}.function.name") or ""
        if not _FUNCTION_NAME.match(name):
            fields.bad(f"{path}.function.name", "must be 1 to 64 of a-z, A-Z, 0-9, _ and -")
        description = fields.string(function, "description", f"{path}.function.description")
        parameters = fields.mapping(function, "parameters", f"{path}.function.parameters")
        specs.append(ToolSpec(name, description or "", parameters or {"type": "object"}))
    choice = body.get("tool_choice")
    if choice is not None and choice not in TOOL_CHOICES and not isinstance(choice, dict):
        fields.bad("tool_choice", f"must be one of {', '.join(TOOL_CHOICES)} or an object")
    return () if choice == "none" else tuple(specs)


def _unreported(
    problems: list[FieldViolation], reported: list[FieldViolation]
) -> list[FieldViolation]:
    """CompleteChat's message checks, less those about a message already reported on (a
    message that is no object has no role either)."""
    seen = {p.field for p in reported}
    return [p for p in problems if p.field not in seen and p.field.rsplit(".", 1)[0] not in seen]


def _renamed(problem: FieldViolation, limit_field: str) -> FieldViolation:
    """A CompleteChat sampling violation under OpenAI's name for the field."""
    names = {"max_output_tokens": limit_field, "stop_sequences": "stop"}
    knob = problem.field.removeprefix("sampling.")
    return FieldViolation(names.get(knob, knob), problem.description)


def limits(ask: ChatCompletionAsk, info: ModelInfo, max_output: int) -> list[FieldViolation]:
    """What the chosen model cannot do: more tokens than it lists as its output limit (the
    service's VOKA_ASSISTANT_MAX_OUTPUT_TOKENS within its context window, as ListModels shows
    it), or the caller's functions on a model that does not take tools (the local GGUF models:
    small models misuse them), which OpenAI refuses too rather than answer without them."""
    problems = []
    cap = min(max_output, info.context_window)
    if ask.sampling.max_output_tokens > cap:
        problems.append(FieldViolation(ask.max_tokens_field, f"at most {cap} for {info.id!r}"))
    if ask.tools and not info.supports_tools:
        problems.append(FieldViolation(
            "tools", f"model {info.id!r} does not support tool calls; leave tools out or set "
            "tool_choice to \"none\""))  # fmt: skip
    return problems
