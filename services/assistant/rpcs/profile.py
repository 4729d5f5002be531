"""Adaptive profile RPCs: the caller's profile (admins: anyone's by name), setting its fields
by hand (memory on or off among them), and forgetting what it learned."""

from __future__ import annotations

from services.assistant import validation
from services.assistant.memory import validation as checks
from services.assistant.profile import convert
from services.assistant.rpcs.base import AssistantRpcs, Context
from voka import authn, tenancy
from voka.assistant.v1 import assistant_pb2


class ProfileRpcs(AssistantRpcs):
    """Users' adaptive profiles."""

    @staticmethod
    def _owner(name: str, path: str) -> str:
        owner, problems = checks.profile_owner(name, authn.caller().subject, path)
        validation.require(problems)
        tenancy.require_visible(owner, "Profile", name)
        return owner

    async def GetProfile(
        self, request: assistant_pb2.GetProfileRequest, context: Context
    ) -> assistant_pb2.GetProfileResponse:
        record = await self._deps.profiles.get(self._owner(request.name, "name"))
        return assistant_pb2.GetProfileResponse(profile=convert.profile(record))

    async def UpdateProfile(
        self, request: assistant_pb2.UpdateProfileRequest, context: Context
    ) -> assistant_pb2.UpdateProfileResponse:
        fields, problems = checks.profile_fields(request)
        validation.require(problems)
        owner = self._owner(request.profile.name, "profile.name")
        values = {field: getattr(request.profile, field) for field in fields}
        record = await self._deps.profiles.update(owner, values)
        return assistant_pb2.UpdateProfileResponse(profile=convert.profile(record))

    async def ResetProfile(
        self, request: assistant_pb2.ResetProfileRequest, context: Context
    ) -> assistant_pb2.ResetProfileResponse:
        record = await self._deps.profiles.reset(self._owner(request.name, "name"))
        return assistant_pb2.ResetProfileResponse(profile=convert.profile(record))
