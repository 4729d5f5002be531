"""SubmitFeedback: thumbs up or down on one of the assistant's replies, with an optional reason,
from the conversation's owner; the owner's profile learns from it (`profile/rules.py`)."""

from __future__ import annotations

from services.assistant import validation
from services.assistant.memory import validation as checks
from services.assistant.profile import convert
from services.assistant.rpcs.base import AssistantRpcs, Context
from voka import authn, errors
from voka.assistant.v1 import assistant_pb2
from voka.errors import FieldViolation


class FeedbackRpcs(AssistantRpcs):
    """Ratings of replies."""

    async def SubmitFeedback(
        self, request: assistant_pb2.SubmitFeedbackRequest, context: Context
    ) -> assistant_pb2.SubmitFeedbackResponse:
        conversation_id, message_id, problems = checks.feedback(request)
        validation.require(problems)
        record = await self._conversation(f"conversations/{conversation_id}", "message")
        if record.owner != authn.caller().subject:
            raise errors.permission_denied("only the conversation's owner rates its replies")
        reply = await self._deps.messages.get(conversation_id, message_id)
        if reply is None:
            raise errors.not_found("Message", request.message)
        if reply.role != assistant_pb2.MESSAGE_ROLE_ASSISTANT:
            validation.require([FieldViolation("message", "must be a reply of the assistant")])
        profile = await self._deps.profiles.rate(
            record.owner, reply, request.rating, request.reason.strip()
        )
        return assistant_pb2.SubmitFeedbackResponse(profile=convert.profile(profile))
