"""Users: a caller's own account (profile, password, deletion, stats) and, for admins, every
account (listing, disabling, enabling, roles). Each change commits with its audit entry and
revokes the sessions it invalidates; a password change, disabling, demoting or deleting a user
also cuts off every access token issued to the user before it (sessions.Sessions.revoke_all).
API keys survive a password change: they are credentials of their own, revoked one by one."""

from __future__ import annotations

from dataclasses import asdict

from google.protobuf.message import Message

from services.auth import convert
from services.auth import validation as check
from services.auth.context import STATS, parse
from services.auth.passwords import hash_password, verify_password
from services.auth.rpcs.base import AuthRpcs, Context
from services.auth.sessions import Revoked
from services.auth.store import USER_ORDER, Client, Stores, UserFilters, UserRecord, now
from voka import authn, errors, pagination
from voka.auth.v1 import auth_pb2, events_pb2
from voka.errors import FieldViolation

USER_FIELDS = ("username", "email", "display_name")


# What each role may do, in order: tokens of a user whose role goes down are cut off at once.
RANK = {auth_pb2.ROLE_USER: 1, auth_pb2.ROLE_OPERATOR: 2, auth_pb2.ROLE_ADMIN: 3}


class UserRpcs(AuthRpcs):
    """GetUser, ListUsers, UpdateUser, DeleteUser, ChangePassword, GetUserStats, DisableUser,
    EnableUser and SetUserRole."""

    async def GetUser(
        self, request: auth_pb2.GetUserRequest, context: Context
    ) -> auth_pb2.GetUserResponse:
        async with self._read() as stores:
            user = await self._named_user(stores.users, request.name, "name")
        return auth_pb2.GetUserResponse(user=convert.user(user))

    async def ListUsers(
        self, request: auth_pb2.ListUsersRequest, context: Context
    ) -> auth_pb2.ListUsersResponse:
        filters = UserFilters(request.query.strip(), request.role, request.state)
        query = pagination.fingerprint("users", asdict(filters))
        page = check.page(request.page_size, request.page_token, USER_ORDER, query)
        async with self._read() as stores:
            listing = await stores.users.page(filters, page)
        return auth_pb2.ListUsersResponse(
            users=[convert.user(r) for r in listing.items],
            next_page_token=pagination.next_token(USER_ORDER, query, listing),
            total_size=listing.total,
        )

    async def UpdateUser(
        self, request: auth_pb2.UpdateUserRequest, context: Context
    ) -> auth_pb2.UpdateUserResponse:
        paths = list(request.update_mask.paths) or [
            f for f in USER_FIELDS if getattr(request.user, f)
        ]
        changes = self._user_changes(request.user, paths)
        identity = authn.caller()
        events: list[Message] = []
        async with self._tx(events) as tx:
            row = await self._named_user(tx.users, request.user.name, "user.name")
            await self._unique(
                tx.users, changes.get("username", ""), changes.get("email", ""), row.id
            )
            if "username" in changes:
                changes["username_key"] = check.username_key(changes["username"])
            if "email" in changes:
                changes["email_key"] = changes["email"]
            row = await tx.users.update(row.id, update_time=now(), **changes)
            user = convert.user(row)
            await tx.audit.record(
                auth_pb2.AUDIT_EVENT_TYPE_USER_UPDATED,
                self._clients.of(context),
                actor=identity.subject,
                user=user.name,
                details={"fields": paths},
            )
            event = events_pb2.UserUpdatedEvent(user=user, actor=identity.subject)
            event.update_mask.paths.extend(paths)
            events.append(event)
        return auth_pb2.UpdateUserResponse(user=user)

    def _user_changes(self, user: auth_pb2.User, paths: list[str]) -> dict[str, str]:
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
        self, request: auth_pb2.DeleteUserRequest, context: Context
    ) -> auth_pb2.DeleteUserResponse:
        identity = authn.caller()
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as tx:
            row = await self._named_user(tx.users, request.name, "name")
            if row.role == auth_pb2.ROLE_ADMIN and await tx.users.admin_count() <= 1:
                raise errors.failed_precondition("the last admin cannot be deleted", "LAST_ADMIN")
            reason = auth_pb2.REVOCATION_REASON_USER_DELETED
            await self._sessions.revoke_all(tx, row.id, reason, identity.subject, revoked)
            await tx.users.delete(row.id)
            await tx.audit.record(
                auth_pb2.AUDIT_EVENT_TYPE_USER_DELETED,
                self._clients.of(context),
                actor=identity.subject,
                user=row.name,
            )
            events.extend(revoked.events)
            events.append(
                events_pb2.UserDeletedEvent(
                    user=row.name, actor=identity.subject, delete_time=convert.timestamp(now())
                )
            )
        return auth_pb2.DeleteUserResponse()

    async def ChangePassword(
        self, request: auth_pb2.ChangePasswordRequest, context: Context
    ) -> auth_pb2.ChangePasswordResponse:
        """Only the caller's own password: an admin too must know the current one."""
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
        async with self._read() as stores:
            row = await self._user(stores.users, own, "User", identity.subject)
        if not await verify_password(row.password_hash, request.current_password):
            raise errors.invalid_argument([FieldViolation("current_password", "does not match")])
        return await self._set_password(
            row, identity, request.new_password, self._clients.of(context)
        )

    async def _set_password(
        self, row: UserRecord, identity: authn.Identity, password: str, client: Client
    ) -> auth_pb2.ChangePasswordResponse:
        password_hash = await hash_password(password)
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as tx:
            reason = auth_pb2.REVOCATION_REASON_PASSWORD_CHANGED
            await self._sessions.revoke_all(tx, row.id, reason, identity.subject, revoked)
            moment = now()
            row = await tx.users.update(
                row.id, password_hash=password_hash, password_change_time=moment
            )
            opened = await self._sessions.open(tx, row, client)
            await tx.audit.record(
                auth_pb2.AUDIT_EVENT_TYPE_PASSWORD_CHANGED,
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
        return auth_pb2.ChangePasswordResponse(
            revoked_session_count=revoked.count,
            **opened.fields(),  # type: ignore[arg-type]
        )

    async def GetUserStats(
        self, request: auth_pb2.GetUserStatsRequest, context: Context
    ) -> auth_pb2.GetUserStatsResponse:
        (user,) = parse(STATS, request.name, "name")
        async with self._read() as stores:
            row = await self._user(stores.users, user, "UserStats", request.name)
            sessions = await stores.sessions.active(row.id)
            keys, last_use = await stores.api_keys.figures(row.id)
        return auth_pb2.GetUserStatsResponse(
            stats=auth_pb2.UserStats(
                name=f"{row.name}/stats",
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

    async def DisableUser(
        self, request: auth_pb2.DisableUserRequest, context: Context
    ) -> auth_pb2.DisableUserResponse:
        identity = authn.caller()
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as tx:
            row = await self._named_user(tx.users, request.name, "name")
            if row.name == identity.subject:
                raise errors.failed_precondition("an admin cannot disable itself", "SELF")
            reason = auth_pb2.REVOCATION_REASON_USER_DISABLED
            await self._sessions.revoke_all(tx, row.id, reason, identity.subject, revoked)
            row = await tx.users.update(
                row.id, disabled=True, state_reason=request.reason[:500], update_time=now()
            )
            await tx.audit.record(
                auth_pb2.AUDIT_EVENT_TYPE_USER_DISABLED,
                self._clients.of(context),
                actor=identity.subject,
                user=row.name,
                reason=request.reason,
            )
            events.extend(revoked.events)
            events.append(
                events_pb2.UserDisabledEvent(
                    user=row.name,
                    actor=identity.subject,
                    reason=request.reason,
                    event_time=convert.timestamp(now()),
                )
            )
        return auth_pb2.DisableUserResponse(user=convert.user(row))

    async def EnableUser(
        self, request: auth_pb2.EnableUserRequest, context: Context
    ) -> auth_pb2.EnableUserResponse:
        identity = authn.caller()
        events: list[Message] = []
        async with self._tx(events) as tx:
            row = await self._named_user(tx.users, request.name, "name")
            row = await tx.users.update(
                row.id,
                disabled=False,
                state_reason="",
                lock_expire_time=None,
                consecutive_failures=0,
                update_time=now(),
            )
            await tx.audit.record(
                auth_pb2.AUDIT_EVENT_TYPE_USER_ENABLED,
                self._clients.of(context),
                actor=identity.subject,
                user=row.name,
            )
            events.append(
                events_pb2.UserEnabledEvent(
                    user=row.name, actor=identity.subject, event_time=convert.timestamp(now())
                )
            )
        return auth_pb2.EnableUserResponse(user=convert.user(row))

    async def SetUserRole(
        self, request: auth_pb2.SetUserRoleRequest, context: Context
    ) -> auth_pb2.SetUserRoleResponse:
        if request.role not in convert.ROLE_NAMES:
            raise errors.invalid_argument(
                [FieldViolation("role", "ROLE_USER, ROLE_OPERATOR or ROLE_ADMIN")]
            )
        identity = authn.caller()
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as tx:
            row = await self._named_user(tx.users, request.name, "name")
            old = row.role
            demoted_admin = old == auth_pb2.ROLE_ADMIN and request.role != auth_pb2.ROLE_ADMIN
            if demoted_admin and await tx.users.admin_count() <= 1:
                raise errors.failed_precondition("the last admin cannot be demoted", "LAST_ADMIN")
            if RANK.get(request.role, 0) < RANK.get(old, 0):  # a privilege taken away
                reason = auth_pb2.REVOCATION_REASON_ROLE_CHANGED
                await self._sessions.revoke_all(tx, row.id, reason, identity.subject, revoked)
            row = await tx.users.update(row.id, role=request.role, update_time=now())
            await self._record_role_change(
                tx,
                row,
                old=old,
                actor=identity.subject,
                client=self._clients.of(context),
                events=events,
            )
            events.extend(revoked.events)
        return auth_pb2.SetUserRoleResponse(user=convert.user(row))

    async def _record_role_change(
        self,
        tx: Stores,
        row: UserRecord,
        *,
        old: auth_pb2.Role.ValueType,
        actor: str,
        client: Client,
        events: list[Message],
    ) -> None:
        await tx.audit.record(
            auth_pb2.AUDIT_EVENT_TYPE_ROLE_CHANGED,
            client,
            actor=actor,
            user=row.name,
            details={"old_role": auth_pb2.Role.Name(old), "new_role": auth_pb2.Role.Name(row.role)},
        )
        events.append(
            events_pb2.UserRoleChangedEvent(
                user=row.name,
                old_role=old,
                new_role=row.role,
                actor=actor,
                event_time=convert.timestamp(now()),
            )
        )
