"""The assistant: a reply streamed token by token (the stream helper `Reply`), a whole reply in
one call, and the caller's conversations, listed or followed live."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import grpc

from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc
from voka_client.errors import ReplyFailedError
from voka_client.pagination import PAGE_SIZE, iter_pages


class Reply:
    """A streamed reply. Iterating it yields the text as it arrives; meanwhile `started` (the
    conversation, the model) and, at the end, `completed` (the whole text, usage, timing) are
    filled in. An `error` event raises ReplyFailedError. Breaking out of the loop early leaves
    the rest of the reply ungenerated once the call is cancelled (`cancel`)."""

    def __init__(self, events: Iterable[assistant_pb2.StreamReplyResponse]) -> None:
        self._events = events
        self.started: assistant_pb2.ReplyStarted | None = None
        self.completed: assistant_pb2.ReplyCompleted | None = None

    @property
    def conversation(self) -> str:
        """The conversation the reply belongs to, once started (empty before)."""
        return self.started.conversation if self.started is not None else ""

    def __iter__(self) -> Iterator[str]:
        for event in self._events:
            kind = event.WhichOneof("event")
            if kind == "started":
                self.started = event.started
            elif kind == "delta":
                yield event.delta.text
            elif kind == "completed":
                self.completed = event.completed
            elif kind == "error":
                raise ReplyFailedError(event.error)

    def text(self) -> str:
        """Waits for the whole reply and answers its text."""
        streamed = "".join(self)
        return self.completed.text if self.completed is not None else streamed

    def cancel(self) -> None:
        """Stops generation: the service keeps the partial reply, finish reason CANCELLED."""
        if isinstance(self._events, grpc.Call):
            self._events.cancel()


def sse_event(frame: bytes) -> tuple[str, Any] | None:
    """One Server-Sent Events frame's event name and JSON data; None for a comment (the
    keepalives) or the `retry:` advice."""
    kind, data = "", None
    for line in frame.decode().splitlines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = json.loads(line.removeprefix("data: "))
    return None if data is None else (kind, data)


class Assistant:
    """`voka.assistant.v1.AssistantService`, through the client's channel."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.stub = assistant_pb2_grpc.AssistantServiceStub(channel)

    def stream_reply(
        self,
        message: str,
        *,
        conversation: str = "",
        model: str = "",
        max_output_tokens: int = 0,
    ) -> Reply:
        """Sends `message` (continuing `conversation`, or starting one) and streams the reply."""
        request = assistant_pb2.StreamReplyRequest(
            message=message,
            conversation=conversation,
            model=model,
            sampling=assistant_pb2.SamplingOptions(max_output_tokens=max_output_tokens),
        )
        return Reply(self.stub.StreamReply(request))

    def process(
        self, message: str, *, conversation: str = "", max_output_tokens: int = 0
    ) -> assistant_pb2.ProcessMessageResponse:
        """Sends `message` and waits for the whole reply."""
        request = assistant_pb2.ProcessMessageRequest(
            message=message,
            conversation=conversation,
            sampling=assistant_pb2.SamplingOptions(max_output_tokens=max_output_tokens),
        )
        return self.stub.ProcessMessage(request)

    def iter_conversations(self, query: str = "") -> Iterator[assistant_pb2.Conversation]:
        """The caller's conversations."""

        def page(token: str) -> tuple[list[assistant_pb2.Conversation], str]:
            request = assistant_pb2.ListConversationsRequest(
                page_size=PAGE_SIZE, page_token=token, query=query
            )
            reply = self.stub.ListConversations(request)
            return list(reply.conversations), reply.next_page_token

        return iter_pages(page)

    def watch_conversations(self) -> Iterator[tuple[str, Any]]:
        """The caller's conversations as they change on any device, as (event, data): `ready`,
        then `conversation` (created or changed), `messages` (appended) and `deleted`, until
        the service ends a quiet stream (`end`; watch again). Break out of the loop to stop."""
        for body in self.stub.WatchConversations(assistant_pb2.WatchConversationsRequest()):
            event = sse_event(body.data)
            if event is not None:
                yield event
