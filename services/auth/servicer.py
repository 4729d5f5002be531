"""The AuthService RPCs: accounts, logins and sessions, API keys, admin and the audit log.

Every change commits with its audit entry in one transaction; events are published after the
commit (best effort: the audit log is the record, events keep caches fresh).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import grpc
from google.protobuf import duration_pb2, json_format
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth import convert, store, tokens
from services.auth import validation as check
from services.auth.context import (
    API_KEY,
    AUDIT_EVENT,
    PREFERENCES,
    SESSION,
    STATS,
    USER,
    client_of,
    parse,
    session_of,
    target,
)
from services.auth.passwords import hash_password, verify_password
from services.auth.ratelimit import SlidingWindow
from services.auth.sessions import Revoked, Sessions, deny, roles_of
from services.auth.settings import AuthSettings
from services.auth.store import Client, Page, Row
from services.auth.tokens import TokenIssuer
from voka import authn, errors, wellknown
from voka.auth.v1 import auth_pb2, auth_pb2_grpc, events_pb2
from voka.bus import Bus
from voka.errors import FieldViolation

log = logging.getLogger("voka.auth")
Context = grpc.aio.ServicerContext[Any, Any]
A = auth_pb2
WRONG_CREDENTIALS = "wrong username or password"
USER_FIELDS = ("username", "email", "display_name")


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    """Accounts and credentials of the mesh."""

    def __init__(
        self,
        settings: AuthSettings,
        sessions: async_sessionmaker[AsyncSession],
        bus: Bus | None,
        issuer: TokenIssuer,
        jwks: Any,
    ) -> None:
        self._settings = settings
        self._db = sessions
        self._bus = bus
        self._issuer = issuer
        self._jwks = jwks
        self._sessions = Sessions(settings, issuer)
        window = settings.auth_ip_window_seconds
        self._ip_failures = SlidingWindow(settings.auth_ip_login_failures, window)
        self._ip_registrations = SlidingWindow(settings.auth_ip_registrations, window)

    # ------------------------------------------------------------ plumbing

    @contextlib.asynccontextmanager
    async def _tx(self, events: list[Message] | None = None) -> AsyncIterator[AsyncSession]:
        """A transaction; `events` are published once it committed."""
        async with self._db.begin() as db:
            yield db
        await self._publish(events or [])

    async def _publish(self, events: Sequence[Message]) -> None:
        if self._bus is None:
            return
        for event in events:
            try:
                await self._bus.publish(event)
            except Exception:  # the audit log holds it; a NATS outage must not fail the RPC
                log.warning("could not publish %s", event.DESCRIPTOR.name, exc_info=True)

    async def _user(self, db: AsyncSession, user_id: str, name: str) -> Row:
        row = await store.user_by_id(db, user_id)
        if row is None:
            raise errors.not_found("User", name)
        return row

    async def _owned_user(
        self, db: AsyncSession, name: str, field: str, services_too: bool = False
    ) -> Row:
        (user,) = parse(USER, name, field)
        return await self._user(db, target(authn.caller(), user, "User", name, services_too), name)

    def _rate_limited(self, window: SlidingWindow, key: str, what: str) -> None:
        wait = window.retry_after(key)
        if wait > 0:
            raise errors.resource_exhausted(
                f"too many {what} from this address", timedelta(seconds=wait)
            )

    # ------------------------------------------------------------ public

    async def Register(self, request: A.RegisterRequest, context: Context) -> A.RegisterResponse:
        client = client_of(context)
        self._rate_limited(self._ip_registrations, client.ip_address, "registrations")
        username, email = check.normal_username(request.username), check.normal_email(request.email)
        check.check(
            check.username_problems(username)
            + check.email_problems(email)
            + check.password_problems(request.password)
            + check.display_name_problems(request.display_name)
            + check.language_problems(request.language_code)
        )
        password_hash = await hash_password(request.password)
        self._ip_registrations.add(client.ip_address)
        user = await self.create_user(
            username,
            email,
            password_hash,
            client,
            display_name=request.display_name,
            language_code=request.language_code,
        )
        return A.RegisterResponse(user=convert.user(user))

    async def create_user(
        self,
        username: str,
        email: str,
        password_hash: str,
        client: Client,
        *,
        display_name: str = "",
        language_code: str = "",
        role: int = A.ROLE_USER,
    ) -> Row:
        """A new account, checked for duplicates (the create-admin command uses it too)."""
        events: list[Message] = []
        async with self._tx(events) as db:
            await self._unique(db, username, email)
            row = await store.insert_user(
                db,
                username=username,
                username_key=check.username_key(username),
                email=email,
                email_key=email,
                password_hash=password_hash,
                display_name=display_name,
                language_code=language_code,
                role=role,
            )
            name = f"users/{row.id}"
            await store.audit(db, A.AUDIT_EVENT_TYPE_USER_REGISTERED, client, user=name)
            events.append(
                events_pb2.UserRegisteredEvent(
                    user=name,
                    username=username,
                    email=email,
                    role=role,  # type: ignore[arg-type]
                    create_time=convert.timestamp(row.create_time),
                )
            )
        return row

    async def _unique(self, db: AsyncSession, username: str, email: str, own: str = "") -> None:
        if username and await store.taken(db, "username_key", check.username_key(username), own):
            raise errors.already_exists("username", username)
        if email and await store.taken(db, "email_key", email, own):
            raise errors.already_exists("email", email)

    async def Login(self, request: A.LoginRequest, context: Context) -> A.LoginResponse:
        client = client_of(context)
        self._rate_limited(self._ip_failures, client.ip_address, "failed logins")
        login = request.username.strip()
        if not login or not request.password:
            check.check(
                [
                    FieldViolation(f, "required")
                    for f in ("username", "password")
                    if not getattr(request, f).strip()
                ]
            )
        async with self._db() as db:
            user = await store.user_by_login(
                db, check.username_key(login), check.normal_email(login)
            )
        locked = convert.locked_until(user) if user is not None else None
        if user is not None and locked is not None:
            await self._login_failed(user, login, client, "locked")
            raise errors.resource_exhausted(
                "account locked after too many failed logins", locked - store.now()
            )
        if not await verify_password(user.password_hash if user else None, request.password):
            await self._wrong_password(user, login, client)
        assert user is not None
        if user.disabled:
            await self._login_failed(user, login, client, "disabled")
            raise errors.permission_denied("account disabled")
        return await self._login_succeeded(user, client)

    async def _wrong_password(self, user: Row | None, login: str, client: Client) -> None:
        """Count the failure; the one that reaches the threshold locks the account."""
        self._ip_failures.add(client.ip_address)
        if user is None:
            await self._login_failed(None, login, client, "unknown account")
            raise errors.unauthenticated(WRONG_CREDENTIALS)
        failures = user.consecutive_failures + 1
        lock = None
        if failures >= self._settings.auth_lockout_threshold:
            lock = store.now() + timedelta(seconds=self._settings.auth_lockout_seconds)
        await self._login_failed(
            user, login, client, "wrong password", failures=failures, lock=lock
        )
        if lock is not None:
            raise errors.resource_exhausted(
                "account locked after too many failed logins", lock - store.now()
            )
        raise errors.unauthenticated(WRONG_CREDENTIALS)

    async def _login_failed(
        self,
        user: Row | None,
        login: str,
        client: Client,
        reason: str,
        *,
        failures: int = 0,
        lock: Any = None,
    ) -> None:
        name = f"users/{user.id}" if user is not None else ""
        events: list[Message] = []
        async with self._tx(events) as db:
            if user is not None and failures:
                await store.update_user(
                    db,
                    user.id,
                    failed_login_count=user.failed_login_count + 1,
                    consecutive_failures=failures,
                    last_failed_login_time=store.now(),
                    **({"lock_expire_time": lock} if lock is not None else {}),
                )
            await store.audit(
                db,
                A.AUDIT_EVENT_TYPE_LOGIN_FAILED,
                client,
                user=name,
                login=login,
                reason=reason,
                details={"consecutive_failures": failures},
            )
            events.append(
                events_pb2.LoginFailedEvent(
                    user=name,
                    login=login,
                    reason=reason,
                    consecutive_failure_count=failures,
                    ip_address=client.ip_address,
                    user_agent=client.user_agent,
                    event_time=convert.timestamp(store.now()),
                )
            )
            if lock is not None:
                await self._locked(
                    db, name=name, failures=failures, lock=lock, client=client, events=events
                )

    async def _locked(
        self,
        db: AsyncSession,
        *,
        name: str,
        failures: int,
        lock: Any,
        client: Client,
        events: list[Message],
    ) -> None:
        await store.audit(
            db,
            A.AUDIT_EVENT_TYPE_USER_LOCKED,
            client,
            user=name,
            reason="too many failed logins",
            details={"failed_attempts": failures},
        )
        events.append(
            events_pb2.UserLockedEvent(
                user=name,
                consecutive_failure_count=failures,
                lock_expire_time=convert.timestamp(lock),
                ip_address=client.ip_address,
            )
        )

    async def _login_succeeded(self, user: Row, client: Client) -> A.LoginResponse:
        name = f"users/{user.id}"
        events: list[Message] = []
        async with self._tx(events) as db:
            user = await store.update_user(
                db,
                user.id,
                login_count=user.login_count + 1,
                consecutive_failures=0,
                lock_expire_time=None,
                last_login_time=store.now(),
            )
            opened = await self._sessions.open(db, user, client)
            await store.audit(
                db,
                A.AUDIT_EVENT_TYPE_LOGIN_SUCCEEDED,
                client,
                actor=name,
                user=name,
                resource=opened.session,
            )
            events.append(
                events_pb2.LoginSucceededEvent(
                    user=name,
                    session=opened.session,
                    ip_address=client.ip_address,
                    user_agent=client.user_agent,
                    event_time=convert.timestamp(store.now()),
                )
            )
        return A.LoginResponse(user=convert.user(user), **opened.fields())  # type: ignore[arg-type]

    async def RefreshToken(
        self, request: A.RefreshTokenRequest, context: Context
    ) -> A.RefreshTokenResponse:
        client = client_of(context)
        token_hash = tokens.digest(request.refresh_token)
        events: list[Message] = []
        async with self._tx(events) as db:
            found = await store.refresh_token(db, token_hash)
            session = await store.session_by_id(db, found.session_id) if found else None
            if found is None or session is None or session.revoke_time is not None:
                raise errors.unauthenticated("refresh token not valid")
            if not await store.use_refresh_token(db, token_hash):
                await self._reused(db, session, client, events)
            else:
                return await self._rotate(db, found, session, client)
        raise errors.unauthenticated("refresh token already used; the session is revoked")

    async def _rotate(
        self, db: AsyncSession, found: Row, session: Row, client: Client
    ) -> A.RefreshTokenResponse:
        if wellknown.utc(found.expire_time) <= store.now():
            raise errors.unauthenticated("refresh token expired")
        user = await self._user(db, session.user_id, f"users/{session.user_id}")
        if user.disabled:
            raise errors.permission_denied("account disabled")
        opened = await self._sessions.refresh(db, session, user, client)
        return A.RefreshTokenResponse(**opened.fields())  # type: ignore[arg-type]

    async def _reused(
        self, db: AsyncSession, session: Row, client: Client, events: list[Message]
    ) -> None:
        """A used token again: a copy leaked, so the whole family dies."""
        revoked = Revoked()
        reason = A.REVOCATION_REASON_REFRESH_TOKEN_REUSED
        await self._sessions.revoke(db, [session], reason, "", revoked)
        user = f"users/{session.user_id}"
        name = f"{user}/sessions/{session.id}"
        await store.audit(
            db, A.AUDIT_EVENT_TYPE_REFRESH_TOKEN_REUSED, client, user=user, resource=name
        )
        events.extend(revoked.events)
        events.append(
            events_pb2.RefreshTokenReuseDetectedEvent(
                user=user,
                session=name,
                ip_address=client.ip_address,
                user_agent=client.user_agent,
                event_time=convert.timestamp(store.now()),
            )
        )

    async def GetJwks(self, request: A.GetJwksRequest, context: Context) -> A.GetJwksResponse:
        reply = A.GetJwksResponse()
        json_format.ParseDict(await self._jwks(), reply, ignore_unknown_fields=True)
        return reply

    async def IssueServiceToken(
        self, request: A.IssueServiceTokenRequest, context: Context
    ) -> A.IssueServiceTokenResponse:
        """Only `client_secret` is accepted for now: a client assertion is refused like a bad
        secret, never trusted unchecked."""
        client = client_of(context)
        subject = f"services/{request.service}"
        expected = self._settings.auth_service_secrets.get(request.service, "")
        given = tokens.digest(request.client_secret) if request.client_secret else ""
        good = bool(expected) and bool(given) and hmac.compare_digest(expected, given)
        kind = (
            A.AUDIT_EVENT_TYPE_SERVICE_TOKEN_ISSUED
            if good
            else A.AUDIT_EVENT_TYPE_SERVICE_TOKEN_DENIED
        )
        async with self._db.begin() as db:
            await store.audit(db, kind, client, actor=subject if good else "", resource=subject)
        if not good:
            raise errors.unauthenticated("service credential not valid")
        access = self._issuer.issue(subject, ["service"])
        return A.IssueServiceTokenResponse(
            access_token=access.token,
            token_type="Bearer",  # noqa: S106 - the scheme, not a secret
            expires_in=duration_pb2.Duration(seconds=int(access.expires_at - access.issued_at)),
            access_token_expire_time=convert.timestamp(_epoch(access.expires_at)),
        )

    # ------------------------------------------------------------ own session

    async def Logout(self, request: A.LogoutRequest, context: Context) -> A.LogoutResponse:
        identity = authn.caller()
        client = client_of(context)
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as db:
            rows = await self._logout_sessions(db, identity, request, context)
            reason = A.REVOCATION_REASON_LOGOUT
            await self._sessions.revoke(db, rows, reason, identity.subject, revoked)
            await _deny_bearer(db, identity, reason, revoked)
            await store.audit(
                db,
                A.AUDIT_EVENT_TYPE_LOGOUT,
                client,
                actor=identity.subject,
                user=identity.subject,
                details={"sessions": revoked.count},
            )
            events.extend(revoked.events)
        return A.LogoutResponse(revoked_session_count=revoked.count)

    async def _logout_sessions(
        self, db: AsyncSession, identity: authn.Identity, request: A.LogoutRequest, context: Context
    ) -> list[Row]:
        user_id = identity.subject.removeprefix("users/")
        active = await store.active_sessions(db, user_id)
        if request.all_sessions:
            return active
        wanted = session_of(context)
        if request.refresh_token:
            found = await store.refresh_token(db, tokens.digest(request.refresh_token))
            wanted = found.session_id if found else ""
        return [row for row in active if row.id == wanted]

    async def ListSessions(
        self, request: A.ListSessionsRequest, context: Context
    ) -> A.ListSessionsResponse:
        page = Page(check.page_size(request.page_size), check.page_offset(request.page_token))
        async with self._db() as db:
            user = await self._owned_user(db, request.parent, "parent")
            rows = await store.active_sessions(db, user.id, Page(page.size + 1, page.offset))
        current = session_of(context)
        return A.ListSessionsResponse(
            sessions=[convert.session(r, current) for r in rows[: page.size]],
            next_page_token=page.next_token if len(rows) > page.size else "",
        )

    async def RevokeSession(
        self, request: A.RevokeSessionRequest, context: Context
    ) -> A.RevokeSessionResponse:
        user, session_id = parse(SESSION, request.name, "name")
        identity = authn.caller()
        user_id = target(identity, user, "Session", request.name)
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as db:
            row = await store.session_by_id(db, session_id)
            if row is None or row.user_id != user_id or row.revoke_time is not None:
                raise errors.not_found("Session", request.name)
            reason = A.REVOCATION_REASON_SESSION_REVOKED
            await self._sessions.revoke(db, [row], reason, identity.subject, revoked)
            await store.audit(
                db,
                A.AUDIT_EVENT_TYPE_SESSION_REVOKED,
                client_of(context),
                actor=identity.subject,
                user=f"users/{user_id}",
                resource=request.name,
            )
            events.extend(revoked.events)
        return A.RevokeSessionResponse()

    # ------------------------------------------------------------ own account

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
                client_of(context),
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
                await _deny_bearer(db, identity, reason, revoked)
            await store.delete_user(db, row.id)
            name = f"users/{row.id}"
            await store.audit(
                db,
                A.AUDIT_EVENT_TYPE_USER_DELETED,
                client_of(context),
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
        return await self._set_password(row, identity, request.new_password, client_of(context))

    async def _set_password(
        self, row: Row, identity: authn.Identity, password: str, client: Client
    ) -> A.ChangePasswordResponse:
        password_hash = await hash_password(password)
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as db:
            reason = A.REVOCATION_REASON_PASSWORD_CHANGED
            await self._sessions.revoke_all(db, row.id, reason, identity.subject, revoked)
            await _deny_bearer(db, identity, reason, revoked)
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

    # ------------------------------------------------------------ preferences and stats

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

    # ------------------------------------------------------------ API keys

    async def CreateApiKey(
        self, request: A.CreateApiKeyRequest, context: Context
    ) -> A.CreateApiKeyResponse:
        identity = authn.caller()
        given = request.api_key
        expire = (
            given.expire_time.ToDatetime(store.now().tzinfo)
            if given.HasField("expire_time")
            else None
        )
        limit = store.now() + timedelta(days=self._settings.auth_api_key_max_days)
        problems = []
        if not 1 <= len(given.display_name.strip()) <= 100:
            problems.append(FieldViolation("api_key.display_name", "1 to 100 characters"))
        if expire is not None and not store.now() < expire <= limit:
            problems.append(
                FieldViolation(
                    "api_key.expire_time", "in the future, within the maximum key lifetime"
                )
            )
        check.check(problems)
        secret, prefix = tokens.new_api_key()
        events: list[Message] = []
        async with self._tx(events) as db:
            user = await self._owned_user(db, request.parent, "parent")
            row = await store.insert_api_key(
                db,
                user_id=user.id,
                display_name=given.display_name.strip(),
                key_prefix=prefix,
                secret_hash=tokens.digest(secret),
                expire_time=expire,
            )
            key = convert.api_key(row)
            await store.audit(
                db,
                A.AUDIT_EVENT_TYPE_API_KEY_CREATED,
                client_of(context),
                actor=identity.subject,
                user=f"users/{user.id}",
                resource=key.name,
            )
            events.append(
                events_pb2.ApiKeyCreatedEvent(
                    api_key=key.name,
                    user=f"users/{user.id}",
                    display_name=key.display_name,
                    key_prefix=prefix,
                    expire_time=convert.timestamp(expire),
                    actor=identity.subject,
                    create_time=key.create_time,
                )
            )
        return A.CreateApiKeyResponse(api_key=key, secret=secret)

    async def ListApiKeys(
        self, request: A.ListApiKeysRequest, context: Context
    ) -> A.ListApiKeysResponse:
        page = Page(check.page_size(request.page_size), check.page_offset(request.page_token))
        async with self._db() as db:
            user = await self._owned_user(db, request.parent, "parent")
            rows = await store.list_api_keys(
                db, user.id, request.show_inactive, Page(page.size + 1, page.offset)
            )
        return A.ListApiKeysResponse(
            api_keys=[convert.api_key(r) for r in rows[: page.size]],
            next_page_token=page.next_token if len(rows) > page.size else "",
        )

    async def _api_key(self, db: AsyncSession, name: str) -> Row:
        user, key_id = parse(API_KEY, name, "name")
        user_id = target(authn.caller(), user, "ApiKey", name)
        row = await store.api_key_by_id(db, user_id, key_id)
        if row is None:
            raise errors.not_found("ApiKey", name)
        return row

    async def GetApiKey(self, request: A.GetApiKeyRequest, context: Context) -> A.GetApiKeyResponse:
        async with self._db() as db:
            return A.GetApiKeyResponse(
                api_key=convert.api_key(await self._api_key(db, request.name))
            )

    async def RevokeApiKey(
        self, request: A.RevokeApiKeyRequest, context: Context
    ) -> A.RevokeApiKeyResponse:
        identity = authn.caller()
        events: list[Message] = []
        async with self._tx(events) as db:
            row = await self._api_key(db, request.name)
            if row.revoke_time is None:
                moment = store.now()
                await store.update_api_key(db, row.id, revoke_time=moment)
                await store.audit(
                    db,
                    A.AUDIT_EVENT_TYPE_API_KEY_REVOKED,
                    client_of(context),
                    actor=identity.subject,
                    user=f"users/{row.user_id}",
                    resource=request.name,
                )
                events.append(
                    events_pb2.ApiKeyRevokedEvent(
                        api_key=request.name,
                        user=f"users/{row.user_id}",
                        key_prefix=row.key_prefix,
                        actor=identity.subject,
                        revoke_time=convert.timestamp(moment),
                    )
                )
                row = await self._api_key(db, request.name)
        return A.RevokeApiKeyResponse(api_key=convert.api_key(row))

    async def resolve_api_key(self, secret: str, client: Client) -> tuple[Row, Row]:
        """The key and its owner for a presented secret; UNAUTHENTICATED (and audited) when it
        is unknown, revoked, expired or its owner disabled. Records the use once a minute."""
        async with self._db.begin() as db:
            row = await store.api_key_by_prefix(db, tokens.api_key_prefix(secret))
            good = row is not None and hmac.compare_digest(row.secret_hash, tokens.digest(secret))
            user = await store.user_by_id(db, row.user_id) if good and row else None
            if (
                row is None
                or user is None
                or convert.api_key_state(row) != A.API_KEY_STATE_ACTIVE
                or user.disabled
            ):
                await store.audit(
                    db,
                    A.AUDIT_EVENT_TYPE_API_KEY_REJECTED,
                    client,
                    resource=f"users/{row.user_id}/api-keys/{row.id}" if row else "",
                    details={"key_prefix": tokens.api_key_prefix(secret)},
                )
                raise errors.unauthenticated("API key not valid")
            last = row.last_used_time
            if last is None or store.now() - wellknown.utc(last) > timedelta(minutes=1):
                await store.update_api_key(db, row.id, last_used_time=store.now())
        return row, user

    async def AuthenticateApiKey(
        self, request: A.AuthenticateApiKeyRequest, context: Context
    ) -> A.AuthenticateApiKeyResponse:
        key, user = await self.resolve_api_key(request.api_key, client_of(context))
        return A.AuthenticateApiKeyResponse(
            subject=f"users/{user.id}",
            roles=roles_of(user),
            api_key=f"users/{user.id}/api-keys/{key.id}",
            expire_time=convert.timestamp(key.expire_time),
            cache_ttl=duration_pb2.Duration(seconds=self._settings.auth_api_key_cache_seconds),
        )

    async def ExchangeApiKey(
        self, request: A.ExchangeApiKeyRequest, context: Context
    ) -> A.ExchangeApiKeyResponse:
        key, user = await self.resolve_api_key(request.api_key, client_of(context))
        not_after = wellknown.utc(key.expire_time).timestamp() if key.expire_time else None
        access = self._issuer.issue(f"users/{user.id}", roles_of(user), not_after=not_after)
        return A.ExchangeApiKeyResponse(
            access_token=access.token,
            token_type="Bearer",  # noqa: S106 - the scheme, not a secret
            expires_in=duration_pb2.Duration(seconds=int(access.expires_at - access.issued_at)),
            access_token_expire_time=convert.timestamp(_epoch(access.expires_at)),
            api_key=f"users/{user.id}/api-keys/{key.id}",
        )

    async def ListRevokedTokens(
        self, request: A.ListRevokedTokensRequest, context: Context
    ) -> A.ListRevokedTokensResponse:
        page = Page(check.page_size(request.page_size), check.page_offset(request.page_token))
        after = (
            request.revoke_time_after.ToDatetime(store.now().tzinfo)
            if request.HasField("revoke_time_after")
            else None
        )
        async with self._db() as db:
            rows = await store.denied_tokens(db, after, Page(page.size + 1, page.offset))
        return A.ListRevokedTokensResponse(
            revoked_tokens=[convert.revoked_token(r) for r in rows[: page.size]],
            next_page_token=page.next_token if len(rows) > page.size else "",
        )

    # ------------------------------------------------------------ admin

    async def ListUsers(self, request: A.ListUsersRequest, context: Context) -> A.ListUsersResponse:
        page = Page(check.page_size(request.page_size), check.page_offset(request.page_token))
        clauses = store.user_filters(request.query.strip(), request.role, request.state)
        async with self._db() as db:
            rows, total = await store.list_users(db, clauses, page)
        return A.ListUsersResponse(
            users=[convert.user(r) for r in rows],
            next_page_token=page.next_token if page.offset + len(rows) < total else "",
            total_size=total,
        )

    async def DisableUser(
        self, request: A.DisableUserRequest, context: Context
    ) -> A.DisableUserResponse:
        identity = authn.caller()
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as db:
            row = await self._owned_user(db, request.name, "name")
            if f"users/{row.id}" == identity.subject:
                raise errors.failed_precondition("an admin cannot disable itself", "SELF")
            reason = A.REVOCATION_REASON_USER_DISABLED
            await self._sessions.revoke_all(db, row.id, reason, identity.subject, revoked)
            row = await store.update_user(
                db,
                row.id,
                disabled=True,
                state_reason=request.reason[:500],
                update_time=store.now(),
            )
            await store.audit(
                db,
                A.AUDIT_EVENT_TYPE_USER_DISABLED,
                client_of(context),
                actor=identity.subject,
                user=f"users/{row.id}",
                reason=request.reason,
            )
            events.extend(revoked.events)
            events.append(
                events_pb2.UserDisabledEvent(
                    user=f"users/{row.id}",
                    actor=identity.subject,
                    reason=request.reason,
                    event_time=convert.timestamp(store.now()),
                )
            )
        return A.DisableUserResponse(user=convert.user(row))

    async def EnableUser(
        self, request: A.EnableUserRequest, context: Context
    ) -> A.EnableUserResponse:
        identity = authn.caller()
        events: list[Message] = []
        async with self._tx(events) as db:
            row = await self._owned_user(db, request.name, "name")
            row = await store.update_user(
                db,
                row.id,
                disabled=False,
                state_reason="",
                lock_expire_time=None,
                consecutive_failures=0,
                update_time=store.now(),
            )
            await store.audit(
                db,
                A.AUDIT_EVENT_TYPE_USER_ENABLED,
                client_of(context),
                actor=identity.subject,
                user=f"users/{row.id}",
            )
            events.append(
                events_pb2.UserEnabledEvent(
                    user=f"users/{row.id}",
                    actor=identity.subject,
                    event_time=convert.timestamp(store.now()),
                )
            )
        return A.EnableUserResponse(user=convert.user(row))

    async def SetUserRole(
        self, request: A.SetUserRoleRequest, context: Context
    ) -> A.SetUserRoleResponse:
        if request.role not in convert.ROLE_NAMES:
            raise errors.invalid_argument([FieldViolation("role", "ROLE_USER or ROLE_ADMIN")])
        identity = authn.caller()
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as db:
            row = await self._owned_user(db, request.name, "name")
            old = row.role
            if old == A.ROLE_ADMIN and request.role != A.ROLE_ADMIN:
                if await store.admin_count(db) <= 1:
                    raise errors.failed_precondition(
                        "the last admin cannot be demoted", "LAST_ADMIN"
                    )
                reason = A.REVOCATION_REASON_ROLE_CHANGED
                await self._sessions.revoke_all(db, row.id, reason, identity.subject, revoked)
            row = await store.update_user(db, row.id, role=request.role, update_time=store.now())
            await self._record_role_change(
                db, row, old=old, actor=identity.subject, client=client_of(context), events=events
            )
            events.extend(revoked.events)
        return A.SetUserRoleResponse(user=convert.user(row))

    async def _record_role_change(
        self,
        db: AsyncSession,
        row: Row,
        *,
        old: int,
        actor: str,
        client: Client,
        events: list[Message],
    ) -> None:
        await store.audit(
            db,
            A.AUDIT_EVENT_TYPE_ROLE_CHANGED,
            client,
            actor=actor,
            user=f"users/{row.id}",
            details={"old_role": A.Role.Name(old), "new_role": A.Role.Name(row.role)},  # type: ignore[arg-type]
        )
        events.append(
            events_pb2.UserRoleChangedEvent(
                user=f"users/{row.id}",
                old_role=cast("A.Role.ValueType", old),
                new_role=row.role,
                actor=actor,
                event_time=convert.timestamp(store.now()),
            )
        )

    async def ListAuditEvents(
        self, request: A.ListAuditEventsRequest, context: Context
    ) -> A.ListAuditEventsResponse:
        page = Page(check.page_size(request.page_size), check.page_offset(request.page_token))
        table = store.audit_events
        clauses: list[Any] = []
        if request.types:
            clauses.append(table.c.type.in_(list(request.types)))
        if request.user:
            clauses.append((table.c.user == request.user) | (table.c.actor == request.user))
        if request.ip_address:
            clauses.append(table.c.ip_address == request.ip_address)
        if request.HasField("start_time"):
            clauses.append(table.c.event_time >= request.start_time.ToDatetime(store.now().tzinfo))
        if request.HasField("end_time"):
            clauses.append(table.c.event_time < request.end_time.ToDatetime(store.now().tzinfo))
        async with self._db() as db:
            rows, total = await store.list_audit_events(db, clauses, page)
        return A.ListAuditEventsResponse(
            audit_events=[convert.audit_event(r) for r in rows],
            next_page_token=page.next_token if page.offset + len(rows) < total else "",
            total_size=total,
        )

    async def GetAuditEvent(
        self, request: A.GetAuditEventRequest, context: Context
    ) -> A.GetAuditEventResponse:
        (event_id,) = parse(AUDIT_EVENT, request.name, "name")
        async with self._db() as db:
            row = await store.audit_event(db, event_id)
        if row is None:
            raise errors.not_found("AuditEvent", request.name)
        return A.GetAuditEventResponse(audit_event=convert.audit_event(row))


async def _deny_bearer(
    db: AsyncSession, identity: authn.Identity, reason: int, revoked: Revoked
) -> None:
    """Cut off the access token of the call itself (API-key callers have none)."""
    await deny(
        db,
        identity.token_id,
        identity.subject,
        _epoch(min(identity.expires_at, 4e9)),
        reason=reason,
        revoked=revoked,
    )


def _epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


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
