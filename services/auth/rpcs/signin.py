"""Registration and login: normalised, unique accounts; password checks with the per-address
limit, the per-account lockout and an audit entry per attempt.

Both limits hold under concurrency: the per-address window is taken before the password check
and given back when the login succeeds, and a failure is counted in one UPDATE of the account
(store.UserStore.count_failure), so 64 wrong passwords at once count 64.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NoReturn

from google.protobuf.message import Message

from services.auth import convert
from services.auth import validation as check
from services.auth.passwords import hash_password, verify_password
from services.auth.rpcs.base import AuthRpcs, Context
from services.auth.store import Client, Stores, UserRecord, now
from voka import errors, wellknown
from voka.auth.v1 import auth_pb2, events_pb2
from voka.errors import FieldViolation

WRONG_CREDENTIALS = "wrong username or password"


class SignInRpcs(AuthRpcs):
    """Register and Login."""

    async def Register(
        self, request: auth_pb2.RegisterRequest, context: Context
    ) -> auth_pb2.RegisterResponse:
        client = self._clients.of(context)
        username, email = check.normal_username(request.username), check.normal_email(request.email)
        check.check(
            check.username_problems(username)
            + check.email_problems(email)
            + check.password_problems(request.password)
            + check.display_name_problems(request.display_name)
            + check.language_problems(request.language_code)
        )
        self._take(self._ip_registrations, client.ip_address, "registrations")
        password_hash = await hash_password(request.password)
        user = await self.create_user(
            username,
            email,
            password_hash,
            client,
            display_name=request.display_name,
            language_code=request.language_code,
        )
        return auth_pb2.RegisterResponse(user=convert.user(user))

    async def create_user(
        self,
        username: str,
        email: str,
        password_hash: str,
        client: Client,
        *,
        display_name: str = "",
        language_code: str = "",
        role: int = auth_pb2.ROLE_USER,
    ) -> UserRecord:
        """A new account, checked for duplicates (the create-admin command uses it too)."""
        events: list[Message] = []
        async with self._tx(events) as tx:
            await self._unique(tx.users, username, email)
            row = await tx.users.insert(
                username=username,
                username_key=check.username_key(username),
                email=email,
                email_key=email,
                password_hash=password_hash,
                display_name=display_name,
                language_code=language_code,
                role=role,
            )
            await tx.audit.record(auth_pb2.AUDIT_EVENT_TYPE_USER_REGISTERED, client, user=row.name)
            events.append(
                events_pb2.UserRegisteredEvent(
                    user=row.name,
                    username=username,
                    email=email,
                    role=role,  # type: ignore[arg-type]
                    create_time=convert.timestamp(row.create_time),
                )
            )
        return row

    async def Login(
        self, request: auth_pb2.LoginRequest, context: Context
    ) -> auth_pb2.LoginResponse:
        client = self._clients.of(context)
        login = request.username.strip()
        if not login or not request.password:
            check.check(
                [
                    FieldViolation(f, "required")
                    for f in ("username", "password")
                    if not getattr(request, f).strip()
                ]
            )
        # Taken now, as a failure until the password proves otherwise: taken after the check,
        # concurrent guesses would all find the window open.
        self._take(self._ip_failures, client.ip_address, "failed logins")
        wrong = False
        try:
            async with self._read() as stores:
                user = await stores.users.by_login(
                    check.username_key(login), check.normal_email(login)
                )
            locked = convert.locked_until(user) if user is not None else None
            if user is not None and locked is not None:
                await self._login_failed(user, login, client, "locked")
                raise errors.resource_exhausted(
                    "account locked after too many failed logins", locked - now()
                )
            if not await verify_password(user.password_hash if user else None, request.password):
                wrong = True
                await self._wrong_password(user, login, client)
            assert user is not None
            if user.disabled:
                await self._login_failed(user, login, client, "disabled")
                raise errors.permission_denied("account disabled")
            return await self._login_succeeded(user, client)
        finally:
            if not wrong:
                self._ip_failures.give_back(client.ip_address)

    async def _wrong_password(
        self, user: UserRecord | None, login: str, client: Client
    ) -> NoReturn:
        """Count the failure; the one that reaches the threshold locks the account, and every
        failure while it is locked (this one's or a concurrent one's doing) says so."""
        if user is None:
            await self._login_failed(None, login, client, "unknown account")
            raise errors.unauthenticated(WRONG_CREDENTIALS)
        lock = now() + timedelta(seconds=self._settings.auth_lockout_seconds)
        threshold = self._settings.auth_lockout_threshold
        events: list[Message] = []
        async with self._tx(events) as tx:
            counted = await tx.users.count_failure(user.id, threshold, lock)
            failures = counted.consecutive_failures
            await self._failure(
                tx, user.name, login, client, "wrong password", failures=failures, events=events
            )
            if counted.lock_expire_time and wellknown.utc(counted.lock_expire_time) == lock:
                await self._locked(
                    tx, user.name, client, failures=failures, lock=lock, events=events
                )
        locked = convert.locked_until(counted)
        if locked is not None:
            raise errors.resource_exhausted(
                "account locked after too many failed logins", locked - now()
            )
        raise errors.unauthenticated(WRONG_CREDENTIALS)

    async def _login_failed(
        self, user: UserRecord | None, login: str, client: Client, reason: str
    ) -> None:
        """A refusal that counts nothing against the account (unknown, locked, disabled)."""
        events: list[Message] = []
        async with self._tx(events) as tx:
            name = user.name if user is not None else ""
            await self._failure(tx, name, login, client, reason, failures=0, events=events)

    async def _failure(
        self,
        tx: Stores,
        name: str,
        login: str,
        client: Client,
        reason: str,
        *,
        failures: int,
        events: list[Message],
    ) -> None:
        await tx.audit.record(
            auth_pb2.AUDIT_EVENT_TYPE_LOGIN_FAILED,
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
                event_time=convert.timestamp(now()),
            )
        )

    async def _locked(
        self,
        tx: Stores,
        name: str,
        client: Client,
        *,
        failures: int,
        lock: datetime,
        events: list[Message],
    ) -> None:
        await tx.audit.record(
            auth_pb2.AUDIT_EVENT_TYPE_USER_LOCKED,
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

    async def _login_succeeded(self, user: UserRecord, client: Client) -> auth_pb2.LoginResponse:
        name = user.name
        events: list[Message] = []
        async with self._tx(events) as tx:
            user = await tx.users.count_login(user.id)
            opened = await self._sessions.open(tx, user, client)
            await tx.audit.record(
                auth_pb2.AUDIT_EVENT_TYPE_LOGIN_SUCCEEDED,
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
                    event_time=convert.timestamp(now()),
                )
            )
        return auth_pb2.LoginResponse(user=convert.user(user), **opened.fields())  # type: ignore[arg-type]
