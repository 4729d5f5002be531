"""OpenAI's response objects (`chat.completion`, `chat.completion.chunk`, `model`, `list`) built
from a reply's outcome and the model catalogue, with the field names and types the `openai`
SDKs read (Unix seconds, plain integers, `null` where OpenAI sends null)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.assistant import convert
from services.assistant.providers.base import ModelInfo
from services.assistant.replies import Outcome
from voka.assistant.v1 import assistant_pb2

JSON = dict[str, Any]
# The reply's end as OpenAI names it; a reply cut short otherwise never reaches a caller whole.
FINISH_REASONS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls",
                  "content_filter": "content_filter"}  # fmt: skip


@dataclass(frozen=True)
class Head:
    """What every object of one completion repeats: its id, creation second and model."""

    model: str
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))

    def object(self, kind: str, **rest: Any) -> JSON:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model,
                **rest}  # fmt: skip


def finish_reason(reason: str) -> str:
    return FINISH_REASONS.get(reason, "stop")


def usage(outcome: Outcome) -> JSON:
    return {
        "prompt_tokens": outcome.input_tokens,
        "completion_tokens": outcome.output_tokens,
        "total_tokens": outcome.input_tokens + outcome.output_tokens,
    }


def tool_call(call: assistant_pb2.ToolCall) -> JSON:
    """A model's call of one of the caller's functions; `arguments` is a JSON string."""
    return {
        "id": call.id,
        "type": "function",
        "function": {
            "name": call.tool.rsplit("/", 1)[-1],
            "arguments": json.dumps(convert.plain(call.arguments)),
        },
    }


def completion(head: Head, outcome: Outcome) -> JSON:
    """The whole reply as a `chat.completion`."""
    message: JSON = {"role": "assistant", "content": outcome.text, "refusal": None}
    calls = outcome.calls
    if calls:
        message["tool_calls"] = [tool_call(c) for c in calls]
    choice = {"index": 0, "message": message, "logprobs": None,
              "finish_reason": finish_reason(outcome.finish)}  # fmt: skip
    return head.object("chat.completion", choices=[choice], usage=usage(outcome))


def chunk(head: Head, delta: JSON, *, finish: str | None = None, with_usage: bool) -> JSON:
    """One `chat.completion.chunk` of the single choice; `usage: null` in every chunk but the
    last when the caller asked for usage, as OpenAI sends it."""
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    extra: JSON = {"usage": None} if with_usage else {}
    return head.object("chat.completion.chunk", choices=[choice], **extra)


def usage_chunk(head: Head, outcome: Outcome) -> JSON:
    """The last chunk with `stream_options.include_usage`: no choices, the token counts."""
    return head.object("chat.completion.chunk", choices=[], usage=usage(outcome))


def model(info: ModelInfo, created: int) -> JSON:
    return {"id": info.id, "object": "model", "created": created, "owned_by": info.provider}


def model_list(infos: Iterable[ModelInfo], created: int) -> JSON:
    return {"object": "list", "data": [model(info, created) for info in infos]}
