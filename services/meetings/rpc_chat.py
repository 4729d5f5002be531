"""Project chat RPCs, mixed into the servicer: AskProject, StreamAskProject, ListChatMessages.

A project is its owner's, so only its owner may ask about it or read its chat; anyone else
gets NOT_FOUND, as for a missing project. The answer comes from the assistant service's
CompleteChat / StreamCompleteChat, called with the meetings service's own identity (as the
summaries are): the prompt carries the project's data (`chat_prompt`), nothing is stored at
the assistant. The question and its answer are stored together when the answer is complete.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from services.meetings import chat_prompt, meeting_convert, meeting_validation, project_content
from services.meetings.chat_prompt import Prompt
from services.meetings.chat_store import CHAT_ORDER, ChatRecord, ChatRepo
from services.meetings.deps import Deps
from services.meetings.peers import answering
from services.meetings.rpc_common import Context, check, new_id, now, owner, valid
from services.meetings.validation import resource_id as checked_id
from voka import errors
from voka.errors import FieldViolation
from voka.meetings.v1 import knowledge_pb2, meetings_pb2
from voka.pagination import Page, decode_token, fingerprint, next_token, page_size

K = knowledge_pb2
PROJECT = "meetings.voka.dev/Project"
MAX_QUESTION = 4000
MAX_MEETINGS = 50
DEFAULT_SOURCES, MAX_SOURCES = 8, 20
HISTORY = 6  # earlier messages offered to the prompt (it keeps what fits)
AskRequest = meetings_pb2.AskProjectRequest | meetings_pb2.StreamAskProjectRequest


@dataclass(frozen=True)
class Ask:
    """An ask request, checked."""

    project_id: str
    question: str
    meeting_ids: tuple[str, ...]
    max_sources: int
    language: str
    ephemeral: bool


@dataclass(frozen=True)
class Turn:
    """A question ready to send: the prompt and the question as it will be stored."""

    ask: Ask
    prompt: Prompt
    question: ChatRecord


def _ask(request: AskRequest) -> Ask:
    """Every bad field at once."""
    project_id, violations = checked_id(request.project, "projects", "project")
    question = request.question.strip()
    if not question:
        violations.append(FieldViolation("question", "is required"))
    elif len(question) > MAX_QUESTION:
        violations.append(FieldViolation("question", f"must be at most {MAX_QUESTION} characters"))
    if not 0 <= request.max_sources <= MAX_SOURCES:
        violations.append(FieldViolation("max_sources", f"must be 0 to {MAX_SOURCES}"))
    if len(request.meetings) > MAX_MEETINGS:
        violations.append(FieldViolation("meetings", f"must be at most {MAX_MEETINGS}"))
    ids = []
    for i, name in enumerate(request.meetings):
        meeting_id, bad = checked_id(name, "meetings", f"meetings[{i}]")
        violations += bad
        ids.append(meeting_id or "")
    violations += meeting_validation.language(request.language, "language")
    return Ask(valid(project_id, violations), question, tuple(ids),
               request.max_sources or DEFAULT_SOURCES, request.language,
               request.ephemeral)  # fmt: skip


class ChatRpcs:
    """Mixed into the servicer; `_deps` is set by it."""

    _deps: Deps

    async def _prepare(self, ask: Ask) -> Turn:
        """The project's content and recent chat, read as its owner, made into a prompt."""
        me = owner()
        async with self._deps.store.tenant(me) as tenant:
            content = await project_content.load(
                tenant, ask.project_id, ask.meeting_ids, transcripts=True
            )
            if content is None:
                raise errors.not_found(PROJECT, f"projects/{ask.project_id}")
            found = {m.id for m in content.meetings}
            check([FieldViolation(f"meetings[{i}]", "no such meeting in this project")
                   for i, m in enumerate(ask.meeting_ids) if m not in found])  # fmt: skip
            chat = ChatRepo(tenant.session)
            history = [] if ask.ephemeral else await chat.recent(ask.project_id, HISTORY)
        prompt = chat_prompt.build(
            content, ask.question, history, budget=self._deps.settings.meetings_chat_context_chars,
            max_sources=ask.max_sources, language=ask.language,
            ended_before=self._deps.ended_before(now()),
        )  # fmt: skip
        question = ChatRecord(new_id(), ask.project_id, K.CHAT_ROLE_USER, ask.question, now(),
                              author=me)  # fmt: skip
        return Turn(ask, prompt, question)

    async def _finish(self, turn: Turn, text: str, model: str) -> ChatRecord:
        """The answer; stored with its question unless the ask is ephemeral."""
        answer = ChatRecord(
            new_id(), turn.ask.project_id, K.CHAT_ROLE_ASSISTANT, text, now(),
            reply_to=turn.question.id, model=model,
            citations=tuple(chat_prompt.cited(text, turn.prompt.citations)),
        )  # fmt: skip
        if not turn.ask.ephemeral:
            async with self._deps.store.tenant(owner()) as tenant:
                if await tenant.project(turn.ask.project_id) is None:  # deleted meanwhile
                    raise errors.not_found(PROJECT, f"projects/{turn.ask.project_id}")
                await ChatRepo(tenant.session).add([turn.question, answer])
        return answer

    def _message(self, turn: Turn, record: ChatRecord) -> K.ChatMessage:
        return meeting_convert.chat_message(record, stored=not turn.ask.ephemeral)

    async def AskProject(
        self, request: meetings_pb2.AskProjectRequest, context: Context
    ) -> meetings_pb2.AskProjectResponse:
        turn = await self._prepare(_ask(request))
        settings = self._deps.settings
        with answering():
            reply = await self._deps.peers.complete_chat(
                turn.prompt.messages, model=settings.meetings_chat_model,
                max_tokens=settings.meetings_chat_max_tokens,
            )  # fmt: skip
        answer = await self._finish(turn, reply.message.content, reply.model)
        response = meetings_pb2.AskProjectResponse(answer=self._message(turn, answer))
        if not turn.ask.ephemeral:
            response.question.CopyFrom(self._message(turn, turn.question))
        return response

    async def StreamAskProject(
        self, request: meetings_pb2.StreamAskProjectRequest, context: Context
    ) -> AsyncIterator[meetings_pb2.StreamAskProjectResponse]:
        """The question, the sources, the assistant's text deltas as they come, the answer.
        A caller who goes away cancels the assistant's generation, and nothing is stored."""
        Response = meetings_pb2.StreamAskProjectResponse
        turn = await self._prepare(_ask(request))
        if not turn.ask.ephemeral:
            yield Response(question=self._message(turn, turn.question))
        for citation in turn.prompt.citations:
            yield Response(citation=citation)
        parts: list[str] = []
        model = ""
        settings = self._deps.settings
        events = self._deps.peers.stream_chat(
            turn.prompt.messages, model=settings.meetings_chat_model,
            max_tokens=settings.meetings_chat_max_tokens,
        )  # fmt: skip
        with answering():
            async with aclosing(events):
                async for event in events:
                    kind = event.WhichOneof("event")
                    if kind == "error":
                        raise errors.unavailable(
                            f"the assistant service failed while answering: {event.error.message}"
                        )
                    if kind == "started":
                        model = event.started.model
                    elif kind == "delta" and event.delta.text:
                        parts.append(event.delta.text)
                        yield Response(text_delta=event.delta.text)
                    elif kind == "completed":
                        model = event.completed.model or model
        answer = await self._finish(turn, "".join(parts), model)
        yield Response(answer=self._message(turn, answer))

    async def ListChatMessages(
        self, request: meetings_pb2.ListChatMessagesRequest, context: Context
    ) -> meetings_pb2.ListChatMessagesResponse:
        """Oldest first, keyset pages."""
        size, violations = page_size(request.page_size)
        project_id, bad_parent = checked_id(request.parent, "projects", "parent")
        query = fingerprint("chat", project_id)
        cursor, bad_token = decode_token(request.page_token, CHAT_ORDER, query)
        project_id = valid(project_id, bad_parent + violations + bad_token)
        async with self._deps.store.tenant(owner()) as tenant:
            if await tenant.project(project_id) is None:
                raise errors.not_found(PROJECT, request.parent)
            listing = await ChatRepo(tenant.session).page(project_id, Page(size, cursor))
        return meetings_pb2.ListChatMessagesResponse(
            chat_messages=[meeting_convert.chat_message(r) for r in listing.items],
            next_page_token=next_token(CHAT_ORDER, query, listing),
        )
