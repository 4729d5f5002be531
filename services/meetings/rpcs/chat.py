"""Project chat RPCs: AskProject, StreamAskProject, ListChatMessages.

A project's chat is reached only by who may see the project (`voka.tenancy`); anyone else gets
NOT_FOUND, as for a missing project. The answer comes from the assistant service's
CompleteChat / StreamCompleteChat, called with the meetings service's own identity (as the
summaries are): the prompt carries the project's data (`chat.prompt`), its sources ranked by
the question's words and meaning as Search ranks them; nothing is stored at the assistant. The
question and its answer are stored together when the answer is complete.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from services.meetings.chat import hybrid
from services.meetings.chat import prompt as chat_prompt
from services.meetings.chat import validation as chat_validation
from services.meetings.chat.convert import chat_message
from services.meetings.chat.prompt import Prompt
from services.meetings.chat.records import ChatRecord
from services.meetings.chat.search_store import SearchQuery
from services.meetings.chat.store import CHAT_ORDER
from services.meetings.chat.validation import Ask, AskRequest
from services.meetings.clients import project_content
from services.meetings.rpcs.base import Context, RpcBase, check, now, valid, visible_project
from services.meetings.schema import new_id
from services.meetings.validation import resource_id
from voka import authn, errors
from voka.errors import FieldViolation
from voka.meetings.v1 import knowledge_pb2, meetings_pb2
from voka.pagination import Page, decode_token, fingerprint, next_token, page_size
from voka.peer_calls import answering

HISTORY = 6  # earlier messages offered to the prompt (it keeps what fits)


@dataclass(frozen=True)
class Turn:
    """A question ready to send: the prompt and the question as it will be stored."""

    ask: Ask
    prompt: Prompt
    question: ChatRecord

    def message(self, record: ChatRecord) -> knowledge_pb2.ChatMessage:
        """An ephemeral turn's messages have no name: nothing is stored to link to."""
        return chat_message(record, stored=not self.ask.ephemeral)


def _ask(request: AskRequest) -> Ask:
    return valid(*chat_validation.ask(request))


def _of_project(project_id: str) -> SearchQuery:
    """The kinds of passage a prompt's sources are (`ProjectContent.passages`), of one project."""
    kinds = frozenset({knowledge_pb2.SOURCE_KIND_TRANSCRIPT, knowledge_pb2.SOURCE_KIND_SUMMARY,
                       knowledge_pb2.SOURCE_KIND_PROJECT})  # fmt: skip
    return SearchQuery((), project_id=project_id, kinds=kinds)


class ChatRpcs(RpcBase):
    async def _prepare(self, ask: Ask) -> Turn:
        """The project's content and recent chat, read where the caller may see the project,
        with its passages nearest the question's meaning (as Search finds them, within the
        project; none when the assistant does not embed the question in time), made into a
        prompt. The question is embedded before the transaction: no lock waits on a peer."""
        embedded = await self._embedded(ask.question)
        async with self._database.transaction() as stores:
            project = await visible_project(stores, ask.project_id)
            content = await project_content.load(stores, project, ask.meeting_ids, transcripts=True)
            found = {m.id for m in content.meetings}
            check([FieldViolation(f"meetings[{i}]", "no such meeting in this project")
                   for i, m in enumerate(ask.meeting_ids) if m not in found])  # fmt: skip
            history = [] if ask.ephemeral else await stores.chat.recent(ask.project_id, HISTORY)
            similar = {} if embedded is None else await hybrid.nearest(
                stores.search, self._vector_cache, _of_project(ask.project_id), embedded,
                limit=hybrid.NEAREST, floor=self._settings.meetings_search_min_similarity,
                meetings_of=None, owner=None,  # the project's: the caller may see it (checked)
            )  # fmt: skip
        asked = chat_prompt.build(
            content, ask.question, history, budget=self._settings.meetings_chat_context_chars,
            max_sources=ask.max_sources, language=ask.language,
            ended_before=self._ended_before(now()), similar=content.by_meaning(similar),
        )  # fmt: skip
        question = ChatRecord(new_id(), ask.project_id, knowledge_pb2.CHAT_ROLE_USER,
                              ask.question, now(), author=authn.caller().subject)  # fmt: skip
        return Turn(ask, asked, question)

    async def _finish(self, turn: Turn, text: str, model: str) -> ChatRecord:
        """The answer; stored with its question unless the ask is ephemeral."""
        answer = ChatRecord(
            new_id(), turn.ask.project_id, knowledge_pb2.CHAT_ROLE_ASSISTANT, text, now(),
            reply_to=turn.question.id, model=model,
            citations=tuple(chat_prompt.cited(text, turn.prompt.citations)),
        )  # fmt: skip
        if not turn.ask.ephemeral:
            async with self._database.transaction() as stores:
                await visible_project(stores, turn.ask.project_id)  # deleted meanwhile?
                await stores.chat.add([turn.question, answer])
        return answer

    async def AskProject(
        self, request: meetings_pb2.AskProjectRequest, context: Context
    ) -> meetings_pb2.AskProjectResponse:
        turn = await self._prepare(_ask(request))
        settings = self._settings
        with answering("assistant"):
            reply = await self._peers.complete_chat(
                turn.prompt.messages, model=settings.meetings_chat_model,
                max_tokens=settings.meetings_chat_max_tokens, for_user=authn.caller().subject,
            )  # fmt: skip
        answer = await self._finish(turn, reply.message.content, reply.model)
        response = meetings_pb2.AskProjectResponse(answer=turn.message(answer))
        if not turn.ask.ephemeral:
            response.question.CopyFrom(turn.message(turn.question))
        return response

    async def StreamAskProject(
        self, request: meetings_pb2.StreamAskProjectRequest, context: Context
    ) -> AsyncIterator[meetings_pb2.StreamAskProjectResponse]:
        """The question, the sources, the assistant's text deltas as they come, the answer.
        A caller who goes away cancels the assistant's generation, and nothing is stored."""
        Response = meetings_pb2.StreamAskProjectResponse
        turn = await self._prepare(_ask(request))
        if not turn.ask.ephemeral:
            yield Response(question=turn.message(turn.question))
        for citation in turn.prompt.citations:
            yield Response(citation=citation)
        parts: list[str] = []
        model = ""
        settings = self._settings
        events = self._peers.stream_chat(
            turn.prompt.messages, model=settings.meetings_chat_model,
            max_tokens=settings.meetings_chat_max_tokens, for_user=authn.caller().subject,
        )  # fmt: skip
        with answering("assistant"):
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
        yield Response(answer=turn.message(answer))

    async def ListChatMessages(
        self, request: meetings_pb2.ListChatMessagesRequest, context: Context
    ) -> meetings_pb2.ListChatMessagesResponse:
        """Oldest first, keyset pages."""
        size, violations = page_size(request.page_size)
        project_id, bad_parent = resource_id(request.parent, "projects", "parent")
        query = fingerprint("chat", project_id)
        cursor, bad_token = decode_token(request.page_token, CHAT_ORDER, query)
        project_id = valid(project_id, bad_parent + violations + bad_token)
        async with self._database.transaction() as stores:
            await visible_project(stores, project_id)
            listing = await stores.chat.page(project_id, Page(size, cursor))
        return meetings_pb2.ListChatMessagesResponse(
            chat_messages=[chat_message(r) for r in listing.items],
            next_page_token=next_token(CHAT_ORDER, query, listing),
        )
