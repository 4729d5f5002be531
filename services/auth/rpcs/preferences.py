"""A user's preferences (language, time zone, free-form settings): the caller's own; admins and
services read anyone's, since other services personalise their answers with them."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from services.auth import convert
from services.auth import validation as check
from services.auth.context import PREFERENCES, parse
from services.auth.rpcs.base import AuthRpcs, Context
from services.auth.store import UserRecord, now
from voka.auth.v1 import auth_pb2, events_pb2
from voka.errors import FieldViolation

OWN_PREFERENCES = "users/me/preferences"


class PreferencesRpcs(AuthRpcs):
    """GetPreferences and UpdatePreferences."""

    async def GetPreferences(
        self, request: auth_pb2.GetPreferencesRequest, context: Context
    ) -> auth_pb2.GetPreferencesResponse:
        user = "me"
        if request.name:
            (user,) = parse(PREFERENCES, request.name, "name")
        name = request.name or OWN_PREFERENCES
        async with self._read() as stores:
            row = await self._user(stores.users, user, "Preferences", name, services_too=True)
        return auth_pb2.GetPreferencesResponse(preferences=convert.preferences(row))

    async def UpdatePreferences(
        self, request: auth_pb2.UpdatePreferencesRequest, context: Context
    ) -> auth_pb2.UpdatePreferencesResponse:
        given = request.preferences
        user = "me"
        if given.name:
            (user,) = parse(PREFERENCES, given.name, "preferences.name")
        paths = list(request.update_mask.paths) or _set_fields(given)
        events: list[Message] = []
        async with self._tx(events) as tx:
            # Locked: concurrent updates of other settings keys merge into the same row.
            name = given.name or OWN_PREFERENCES
            row = await self._user(tx.users, user, "Preferences", name, lock=True)
            changes = _changes(row, given, paths)
            row = await tx.users.update(row.id, preferences_update_time=now(), **changes)
            preferences = convert.preferences(row)
            event = events_pb2.PreferencesUpdatedEvent(preferences=preferences)
            event.update_mask.paths.extend(paths)
            events.append(event)
        return auth_pb2.UpdatePreferencesResponse(preferences=preferences)


def _set_fields(given: auth_pb2.Preferences) -> list[str]:
    """The update mask of a request without one: the fields it sets."""
    paths = [f for f in ("language_code", "time_zone") if getattr(given, f)]
    return [*paths, "settings"] if given.HasField("settings") else paths


def _changes(row: UserRecord, given: auth_pb2.Preferences, paths: list[str]) -> dict[str, Any]:
    """The columns to write for an update mask, checked field by field."""
    settings = dict(row.settings)
    changes: dict[str, Any] = {}
    problems: list[FieldViolation] = []
    given_settings = json_format.MessageToDict(given.settings)
    for path in paths:
        if path in ("language_code", "time_zone"):
            changes[path] = getattr(given, path)
        elif path == "settings":
            settings = given_settings
        elif path.startswith("settings.") and len(path) > len("settings."):
            key = path.removeprefix("settings.")
            value = given_settings.get(key)
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
        else:
            problems.append(FieldViolation("update_mask", f"cannot update {path!r}"))
    problems += check.language_problems(
        changes.get("language_code", ""), "preferences.language_code"
    )
    problems += check.time_zone_problems(changes.get("time_zone", ""), "preferences.time_zone")
    problems += check.settings_problems(settings, "preferences.settings")
    check.check(problems)
    return {**changes, "settings": settings}
