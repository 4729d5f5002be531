"""The caller's own account: profile, deletion, password, preferences and stats (an admin:
anyone's)."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from services.auth import convert, store
from services.auth import validation as check
from services.auth.context import (
    PREFERENCES,
    STATS,
    parse,
    target,
)
from services.auth.passwords import hash_password, verify_password
from services.auth.rpcs.base import A, AuthRpcs, Context, deny_bearer
from services.auth.sessions import Revoked
from services.auth.store import Client, Row
from voka import authn, errors
from voka.auth.v1 import events_pb2
from voka.errors import FieldViolation

USER_FIELDS = ("username", "email", "display_name")


class AccountRpcs(AuthRpcs):
    """GetUser, UpdateUser, DeleteUser, ChangePassword, preferences and stats."""

    async def GetUser(self, request: A.GetUserRequest, context: Context) -> A.GetUserResponse:
        async with self._db() as db:
            return A.GetUserResponse(
                user=convert.user(await self._owned_user(db, request.name, "name"))
            )

    async def UpdateUser(
        self, request: A.UpdateUserRequest, context: Context
    ) -> A.UpdateUserResponse:
        paths = list(request.update_mask.paths) or [
            f for f in USER_FIELDS if getattr(request.user, f)
        ]
        changes = self._user_changes(request.user, paths)
        identity = authn.caller()
        events: list[Message] = []
        async with self._tx(events) as db:
            row = await self._owned_user(db, request.user.name, "user.name")
            await self._unique(db, changes.get("username", ""), changes.get("email", ""), row.id)
            if "username" in changes:
                changes["username_key"] = check.username_key(changes["username"])
            if "email" in changes:
                changes["email_key"] = changes["email"]
            row = await store.update_user(db, row.id, update_time=store.now(), **changes)
            user = convert.user(row)
            await store.audit(
                db,
                A.AUDIT_EVENT_TYPE_USER_UPDATED,
                self._clients.of(context),
                actor=identity.subject,
                user=user.name,
                details={"fields": paths},
            )
            event = events_pb2.UserUpdatedEvent(user=user, actor=identity.subject)
            event.update_mask.paths.extend(paths)
            events.append(event)
        return A.UpdateUserResponse(user=user)

    def _user_changes(self, user: A.User, paths: list[str]) -> dict[str, str]:
        unknown = [p for p in paths if p not in USER_FIELDS]
        if unknown:
            raise errors.invalid_argument(
                [FieldViolation("update_mask", f"cannot update {p!r}") for p in unknown]
            )
        changes = {
            "username": check.normal_username(user.username),
            "email": check.normal_email(user.email),
            "display_name": user.display_name.strip(),
        }
        changes = {k: v for k, v in changes.items() if k in paths}
        problems = {
            "username": check.username_problems,
            "email": check.email_problems,
            "display_name": check.display_name_problems,
        }
        check.check([v for k, value in changes.items() for v in problems[k](value, f"user.{k}")])
        return changes

    async def DeleteUser(
        self, request: A.DeleteUserRequest, context: Context
    ) -> A.DeleteUserResponse:
        identity = authn.caller()
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as db:
            row = await self._owned_user(db, request.name, "name")
            if row.role == A.ROLE_ADMIN and await store.admin_count(db) <= 1:
                raise errors.failed_precondition("the last admin cannot be deleted", "LAST_ADMIN")
            reason = A.REVOCATION_REASON_USER_DELETED
            await self._sessions.revoke_all(db, row.id, reason, identity.subject, revoked)
            if identity.subject == f"users/{row.id}":
                await deny_bearer(db, identity, reason, revoked)
            await store.delete_user(db, row.id)
            name = f"users/{row.id}"
            await store.audit(
                db,
                A.AUDIT_EVENT_TYPE_USER_DELETED,
                self._clients.of(context),
                actor=identity.subject,
                user=name,
            )
            events.extend(revoked.events)
            events.append(
                events_pb2.UserDeletedEvent(
                    user=name, actor=identity.subject, delete_time=convert.timestamp(store.now())
                )
            )
        return A.DeleteUserResponse()

    async def ChangePassword(
        self, request: A.ChangePasswordRequest, context: Context
    ) -> A.ChangePasswordResponse:
        identity = authn.caller()
        own = identity.subject.removeprefix("users/")
        if request.name not in (
            "",
            "users/me",
            identity.subject,
        ) or not identity.subject.startswith("users/"):
            raise errors.not_found("User", request.name)
        problems = check.password_problems(request.new_password, "new_password")
        if request.new_password == request.current_password:
            problems.append(FieldViolation("new_password", "must differ from the current one"))
        check.check(problems)
        async with self._db() as db:
            row = await self._user(db, own, identity.subject)
        if not await verify_password(row.password_hash, request.current_password):
            raise errors.invalid_argument([FieldViolation("current_password", "does not match")])
        return await self._set_password(
            row, identity, request.new_password, self._clients.of(context)
        )

    async def _set_password(
        self, row: Row, identity: authn.Identity, password: str, client: Client
    ) -> A.ChangePasswordResponse:
        password_hash = await hash_password(password)
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as db:
            reason = A.REVOCATION_REASON_PASSWORD_CHANGED
            await self._sessions.revoke_all(db, row.id, reason, identity.subject, revoked)
            await deny_bearer(db, identity, reason, revoked)
            moment = store.now()
            row = await store.update_user(
                db, row.id, password_hash=password_hash, password_change_time=moment
            )
            opened = await self._sessions.open(db, row, client)
            await store.audit(
                db,
                A.AUDIT_EVENT_TYPE_PASSWORD_CHANGED,
                client,
                actor=identity.subject,
                user=identity.subject,
            )
            events.extend(revoked.events)
            events.append(
                events_pb2.UserPasswordChangedEvent(
                    user=identity.subject,
                    revoked_session_count=revoked.count,
                    change_time=convert.timestamp(moment),
                )
            )
        return A.ChangePasswordResponse(
            revoked_session_count=revoked.count,
            **opened.fields(),  # type: ignore[arg-type]
        )

    async def GetPreferences(
        self, request: A.GetPreferencesRequest, context: Context
    ) -> A.GetPreferencesResponse:
        user = "me"
        if request.name:
            (user,) = parse(PREFERENCES, request.name, "name")
        async with self._db() as db:
            user_id = target(authn.caller(), user, "Preferences", request.name, services_too=True)
            row = await self._user(db, user_id, request.name or "users/me/preferences")
        return A.GetPreferencesResponse(preferences=convert.preferences(row))

    async def UpdatePreferences(
        self, request: A.UpdatePreferencesRequest, context: Context
    ) -> A.UpdatePreferencesResponse:
        given = request.preferences
        user = "me"
        if given.name:
            (user,) = parse(PREFERENCES, given.name, "preferences.name")
        user_id = target(authn.caller(), user, "Preferences", given.name)
        paths = list(request.update_mask.paths) or self._set_preference_fields(given)
        events: list[Message] = []
        async with self._tx(events) as db:
            row = await self._user(db, user_id, given.name or "users/me/preferences")
            changes = _preference_changes(row, given, paths)
            row = await store.update_user(
                db, user_id, preferences_update_time=store.now(), **changes
            )
            preferences = convert.preferences(row)
            event = events_pb2.PreferencesUpdatedEvent(preferences=preferences)
            event.update_mask.paths.extend(paths)
            events.append(event)
        return A.UpdatePreferencesResponse(preferences=preferences)

    def _set_preference_fields(self, given: A.Preferences) -> list[str]:
        paths = [f for f in ("language_code", "time_zone") if getattr(given, f)]
        return [*paths, "settings"] if given.HasField("settings") else paths

    async def GetUserStats(
        self, request: A.GetUserStatsRequest, context: Context
    ) -> A.GetUserStatsResponse:
        (user,) = parse(STATS, request.name, "name")
        user_id = target(authn.caller(), user, "UserStats", request.name)
        async with self._db() as db:
            row = await self._user(db, user_id, request.name)
            sessions = await store.active_sessions(db, user_id)
            keys, last_use = await store.api_key_figures(db, user_id)
        return A.GetUserStatsResponse(
            stats=A.UserStats(
                name=f"users/{user_id}/stats",
                login_count=row.login_count,
                failed_login_count=row.failed_login_count,
                consecutive_failed_login_count=row.consecutive_failures,
                last_login_time=convert.timestamp(row.last_login_time),
                last_failed_login_time=convert.timestamp(row.last_failed_login_time),
                active_session_count=len(sessions),
                active_api_key_count=keys,
                last_api_key_use_time=convert.timestamp(last_use),
                create_time=convert.timestamp(row.create_time),
                password_change_time=convert.timestamp(row.password_change_time),
            )
        )


def _preference_changes(row: Row, given: A.Preferences, paths: list[str]) -> dict[str, Any]:
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
