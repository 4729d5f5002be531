"""The auth service through gRPC: accounts, tokens, sessions, API keys, admin, audit."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import grpc
import jwt
import pytest
import sqlalchemy as sa
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.auth.cli import create_admin
from services.auth.settings import AuthSettings
from services.auth.store import EXPIRED_PER_WRITE
from services.auth.tables import revoked_tokens
from tests.fixtures.tokens import TokenFactory
from tests.services.auth.conftest import PASSWORD, bearer, signed_up
from voka.auth.v1 import auth_pb2
from voka.server import Running

STALE = 5 * EXPIRED_PER_WRITE  # expired denylist entries left by earlier years

pytestmark = pytest.mark.integration


async def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code()


def _violated_fields(err: grpc.aio.AioRpcError) -> list[str]:
    bad = error_details_pb2.BadRequest()
    assert rpc_status.from_call(err).details[0].Unpack(bad)
    return [v.field for v in bad.field_violations]


async def _admin(auth: Running, stub) -> auth_pb2.LoginResponse:
    settings = auth.resources.settings
    assert isinstance(settings, AuthSettings)
    await create_admin(settings, "root", "root@example.com", PASSWORD)
    return await stub.Login(auth_pb2.LoginRequest(username="root", password=PASSWORD))


async def test_register_normalises_and_refuses_duplicates(stub):
    reply = await stub.Register(
        auth_pb2.RegisterRequest(username=" Alice ", email=" Alice@Example.COM ", password=PASSWORD)
    )
    assert (reply.user.username, reply.user.email) == ("Alice", "alice@example.com")
    assert reply.user.role == auth_pb2.ROLE_USER
    again = auth_pb2.RegisterRequest(username="ALICE", email="other@example.com", password=PASSWORD)
    assert await _code(stub.Register(again)) == grpc.StatusCode.ALREADY_EXISTS
    bad = auth_pb2.RegisterRequest(username="a", email="nope", password="short")
    assert await _code(stub.Register(bad)) == grpc.StatusCode.INVALID_ARGUMENT


async def test_login_token_has_the_contract_claims(stub):
    login = await signed_up(stub)
    header = jwt.get_unverified_header(login.access_token)
    claims = jwt.decode(login.access_token, options={"verify_signature": False})
    assert header["alg"] == "EdDSA"
    jwks = await stub.GetJwks(auth_pb2.GetJwksRequest())
    assert header["kid"] == jwks.keys[0].kid
    assert claims["iss"] == "voka-auth"
    assert claims["aud"] == "voka"
    assert claims["sub"] == login.user.name
    assert claims["roles"] == ["user"]
    assert claims["sid"] == login.session.rsplit("/", 1)[1]
    assert claims["jti"]
    me = await stub.GetUser(
        auth_pb2.GetUserRequest(name="users/me"), metadata=bearer(login.access_token)
    )
    assert me.user.name == login.user.name


async def test_wrong_password_is_unauthenticated_like_an_unknown_account(stub):
    await signed_up(stub)
    wrong = auth_pb2.LoginRequest(username="alice", password="not the password")
    unknown = auth_pb2.LoginRequest(username="nobody", password="not the password")
    assert await _code(stub.Login(wrong)) == grpc.StatusCode.UNAUTHENTICATED
    assert await _code(stub.Login(unknown)) == grpc.StatusCode.UNAUTHENTICATED


async def test_refresh_rotates_and_reuse_revokes_the_family(stub):
    login = await signed_up(stub)
    first = await stub.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=login.refresh_token))
    assert first.refresh_token != login.refresh_token
    reuse = stub.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=login.refresh_token))
    assert await _code(reuse) == grpc.StatusCode.UNAUTHENTICATED
    # The family is dead: the newest refresh token and the newest access token are refused too.
    newest = stub.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=first.refresh_token))
    assert await _code(newest) == grpc.StatusCode.UNAUTHENTICATED
    me = stub.GetUser(auth_pb2.GetUserRequest(name="users/me"), metadata=bearer(first.access_token))
    assert await _code(me) == grpc.StatusCode.UNAUTHENTICATED


async def test_logout_denylists_the_access_token_and_ends_the_session(stub):
    login = await signed_up(stub)
    reply = await stub.Logout(auth_pb2.LogoutRequest(), metadata=bearer(login.access_token))
    assert reply.revoked_session_count == 1
    me = stub.GetUser(auth_pb2.GetUserRequest(name="users/me"), metadata=bearer(login.access_token))
    assert await _code(me) == grpc.StatusCode.UNAUTHENTICATED
    refresh = stub.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=login.refresh_token))
    assert await _code(refresh) == grpc.StatusCode.UNAUTHENTICATED


async def test_change_password_revokes_sessions_and_opens_a_new_one(stub):
    login = await signed_up(stub)
    other = await stub.Login(auth_pb2.LoginRequest(username="alice", password=PASSWORD))
    request = auth_pb2.ChangePasswordRequest(
        current_password=PASSWORD, new_password="a new passphrase"
    )
    reply = await stub.ChangePassword(request, metadata=bearer(login.access_token))
    assert reply.revoked_session_count == 2
    for old in (login.access_token, other.access_token):
        me = stub.GetUser(auth_pb2.GetUserRequest(name="users/me"), metadata=bearer(old))
        assert await _code(me) == grpc.StatusCode.UNAUTHENTICATED
    me = await stub.GetUser(
        auth_pb2.GetUserRequest(name="users/me"), metadata=bearer(reply.access_token)
    )
    assert me.user.name == login.user.name
    old_login = stub.Login(auth_pb2.LoginRequest(username="alice", password=PASSWORD))
    assert await _code(old_login) == grpc.StatusCode.UNAUTHENTICATED


async def test_a_user_cannot_read_or_change_another_users_data(stub):
    alice = await signed_up(stub, "alice")
    bob = await signed_up(stub, "bob")
    as_bob = bearer(bob.access_token)
    name = alice.user.name
    calls = [
        stub.GetUser(auth_pb2.GetUserRequest(name=name), metadata=as_bob),
        stub.UpdateUser(
            auth_pb2.UpdateUserRequest(user=auth_pb2.User(name=name, display_name="x")),
            metadata=as_bob,
        ),
        stub.DeleteUser(auth_pb2.DeleteUserRequest(name=name), metadata=as_bob),
        stub.GetPreferences(
            auth_pb2.GetPreferencesRequest(name=f"{name}/preferences"), metadata=as_bob
        ),
        stub.ListSessions(auth_pb2.ListSessionsRequest(parent=name), metadata=as_bob),
        stub.ListApiKeys(auth_pb2.ListApiKeysRequest(parent=name), metadata=as_bob),
        stub.GetUserStats(auth_pb2.GetUserStatsRequest(name=f"{name}/stats"), metadata=as_bob),
    ]
    for call in calls:
        assert await _code(call) == grpc.StatusCode.NOT_FOUND


async def test_non_admin_on_admin_rpcs_is_permission_denied(stub):
    login = await signed_up(stub)
    as_user = bearer(login.access_token)
    calls = [
        stub.ListUsers(auth_pb2.ListUsersRequest(), metadata=as_user),
        stub.DisableUser(auth_pb2.DisableUserRequest(name=login.user.name), metadata=as_user),
        stub.SetUserRole(
            auth_pb2.SetUserRoleRequest(name=login.user.name, role=auth_pb2.ROLE_ADMIN),
            metadata=as_user,
        ),
        stub.ListAuditEvents(auth_pb2.ListAuditEventsRequest(), metadata=as_user),
    ]
    for call in calls:
        assert await _code(call) == grpc.StatusCode.PERMISSION_DENIED


async def test_twenty_wrong_passwords_lock_the_account_and_are_audited(auth, stub):
    await signed_up(stub)
    codes = []
    for _ in range(20):
        wrong = auth_pb2.LoginRequest(username="alice", password="wrong password!")
        codes.append(await _code(stub.Login(wrong)))
    assert codes[:9] == [grpc.StatusCode.UNAUTHENTICATED] * 9, codes
    assert set(codes[9:]) == {grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
    assert set(codes[9:]) == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    right = stub.Login(auth_pb2.LoginRequest(username="alice", password=PASSWORD))
    assert await _code(right) == grpc.StatusCode.RESOURCE_EXHAUSTED
    admin = await _admin(auth, stub)
    failed = await stub.ListAuditEvents(
        auth_pb2.ListAuditEventsRequest(
            types=[auth_pb2.AUDIT_EVENT_TYPE_LOGIN_FAILED], page_size=100
        ),
        metadata=bearer(admin.access_token),
    )
    assert failed.total_size == 21
    assert {e.login for e in failed.audit_events} == {"alice"}
    locked = await stub.ListAuditEvents(
        auth_pb2.ListAuditEventsRequest(types=[auth_pb2.AUDIT_EVENT_TYPE_USER_LOCKED]),
        metadata=bearer(admin.access_token),
    )
    assert locked.total_size == 1
    users = await stub.ListUsers(
        auth_pb2.ListUsersRequest(state=auth_pb2.USER_STATE_LOCKED),
        metadata=bearer(admin.access_token),
    )
    assert [u.username for u in users.users] == ["alice"]


async def test_admin_disables_enables_and_changes_roles(auth, stub):
    alice = await signed_up(stub)
    admin = bearer((await _admin(auth, stub)).access_token)
    disabled = await stub.DisableUser(
        auth_pb2.DisableUserRequest(name=alice.user.name, reason="abuse"), metadata=admin
    )
    assert disabled.user.state == auth_pb2.USER_STATE_DISABLED
    me = stub.GetUser(auth_pb2.GetUserRequest(name="users/me"), metadata=bearer(alice.access_token))
    assert await _code(me) == grpc.StatusCode.UNAUTHENTICATED
    login = stub.Login(auth_pb2.LoginRequest(username="alice", password=PASSWORD))
    assert await _code(login) == grpc.StatusCode.PERMISSION_DENIED
    await stub.EnableUser(auth_pb2.EnableUserRequest(name=alice.user.name), metadata=admin)
    promoted = await stub.SetUserRole(
        auth_pb2.SetUserRoleRequest(name=alice.user.name, role=auth_pb2.ROLE_ADMIN), metadata=admin
    )
    assert promoted.user.role == auth_pb2.ROLE_ADMIN
    page = await stub.ListUsers(auth_pb2.ListUsersRequest(page_size=1), metadata=admin)
    assert page.total_size == 2
    assert len(page.users) == 1
    assert page.next_page_token
    roles = await stub.ListAuditEvents(
        auth_pb2.ListAuditEventsRequest(types=[auth_pb2.AUDIT_EVENT_TYPE_ROLE_CHANGED]),
        metadata=admin,
    )
    event = roles.audit_events[0]
    assert event.details["new_role"] == "ROLE_ADMIN"
    one = await stub.GetAuditEvent(auth_pb2.GetAuditEventRequest(name=event.name), metadata=admin)
    assert one.audit_event == event


async def test_api_key_create_use_list_revoke(stub):
    login = await signed_up(stub)
    me = bearer(login.access_token)
    created = await stub.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(parent="users/me", api_key=auth_pb2.ApiKey(display_name="ci")),
        metadata=me,
    )
    assert created.secret.startswith(created.api_key.key_prefix)
    as_key = bearer(created.secret)
    whoami = await stub.GetUser(auth_pb2.GetUserRequest(name="users/me"), metadata=as_key)
    assert whoami.user.name == login.user.name
    exchanged = await stub.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=created.secret))
    claims = jwt.decode(exchanged.access_token, options={"verify_signature": False})
    assert claims["sub"] == login.user.name
    listed = await stub.ListApiKeys(auth_pb2.ListApiKeysRequest(parent="users/me"), metadata=me)
    assert [k.name for k in listed.api_keys] == [created.api_key.name]
    assert listed.api_keys[0].HasField("last_used_time")
    revoked = await stub.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(name=created.api_key.name), metadata=me
    )
    assert revoked.api_key.state == auth_pb2.API_KEY_STATE_REVOKED
    again = stub.GetUser(auth_pb2.GetUserRequest(name="users/me"), metadata=as_key)
    assert await _code(again) == grpc.StatusCode.UNAUTHENTICATED
    active = await stub.ListApiKeys(auth_pb2.ListApiKeysRequest(parent="users/me"), metadata=me)
    assert list(active.api_keys) == []


async def test_preferences_and_stats(stub):
    login = await signed_up(stub)
    me = bearer(login.access_token)
    prefs = auth_pb2.Preferences(language_code="es", time_zone="Europe/Madrid")
    prefs.settings.update({"assistant.hemisphere_balance": 0.7})
    await stub.UpdatePreferences(auth_pb2.UpdatePreferencesRequest(preferences=prefs), metadata=me)
    one = auth_pb2.UpdatePreferencesRequest(
        preferences=auth_pb2.Preferences(time_zone="Mars/Olympus")
    )
    assert await _code(stub.UpdatePreferences(one, metadata=me)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    got = await stub.GetPreferences(auth_pb2.GetPreferencesRequest(), metadata=me)
    assert got.preferences.language_code == "es"
    assert got.preferences.settings["assistant.hemisphere_balance"] == 0.7
    stats = await stub.GetUserStats(
        auth_pb2.GetUserStatsRequest(name="users/me/stats"), metadata=me
    )
    assert stats.stats.login_count == 1
    assert stats.stats.active_session_count == 1


async def test_sessions_list_and_revoke(stub):
    login = await signed_up(stub)
    second = await stub.Login(auth_pb2.LoginRequest(username="alice", password=PASSWORD))
    me = bearer(login.access_token)
    listed = await stub.ListSessions(auth_pb2.ListSessionsRequest(parent="users/me"), metadata=me)
    assert {s.name for s in listed.sessions} == {login.session, second.session}
    assert [s.current for s in listed.sessions if s.name == login.session] == [True]
    await stub.RevokeSession(auth_pb2.RevokeSessionRequest(name=second.session), metadata=me)
    gone = stub.GetUser(
        auth_pb2.GetUserRequest(name="users/me"), metadata=bearer(second.access_token)
    )
    assert await _code(gone) == grpc.StatusCode.UNAUTHENTICATED


async def test_forged_tokens_are_refused(stub, tokens: TokenFactory):
    login = await signed_up(stub)
    claims = jwt.decode(login.access_token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(login.access_token)["kid"]
    head, body, signature = login.access_token.split(".")
    tampered = f"{head}.{body[:-2]}AA.{signature}"
    alg_none = jwt.encode(claims, key=None, algorithm="none", headers={"kid": kid})
    expired = tokens.mint(subject=login.user.name, ttl=-10, kid=kid)  # foreign key, known kid
    wrong_kid = tokens.mint(subject=login.user.name)
    for token in (tampered, alg_none, expired, wrong_kid):
        call = stub.GetUser(auth_pb2.GetUserRequest(name="users/me"), metadata=bearer(token))
        assert await _code(call) == grpc.StatusCode.UNAUTHENTICATED, token
    assert claims["exp"] > time.time()


async def test_a_page_token_only_continues_the_list_it_came_from(auth, stub):
    alice = await signed_up(stub, "alice")
    bob = await signed_up(stub, "bob")
    await stub.Login(auth_pb2.LoginRequest(username="alice", password=PASSWORD))
    admin = bearer((await _admin(auth, stub)).access_token)
    users = await stub.ListUsers(auth_pb2.ListUsersRequest(page_size=1), metadata=admin)
    rest = await stub.ListUsers(
        auth_pb2.ListUsersRequest(page_size=5, page_token=users.next_page_token), metadata=admin
    )
    assert len({u.name for u in [*users.users, *rest.users]}) == users.total_size == 3
    other_filter = auth_pb2.ListUsersRequest(query="bob", page_token=users.next_page_token)
    assert await _code(stub.ListUsers(other_filter, metadata=admin)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    audit = await stub.ListAuditEvents(auth_pb2.ListAuditEventsRequest(page_size=1), metadata=admin)
    assert audit.next_page_token
    other_types = auth_pb2.ListAuditEventsRequest(
        types=[auth_pb2.AUDIT_EVENT_TYPE_LOGIN_SUCCEEDED], page_token=audit.next_page_token
    )
    assert await _code(stub.ListAuditEvents(other_types, metadata=admin)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    me = bearer(alice.access_token)
    sessions = await stub.ListSessions(
        auth_pb2.ListSessionsRequest(parent="users/me", page_size=1), metadata=me
    )
    last = await stub.ListSessions(
        auth_pb2.ListSessionsRequest(parent="users/me", page_token=sessions.next_page_token),
        metadata=me,
    )
    assert len({s.name for s in [*sessions.sessions, *last.sessions]}) == 2
    assert not last.next_page_token
    bobs = auth_pb2.ListSessionsRequest(parent=bob.user.name, page_token=sessions.next_page_token)
    assert await _code(stub.ListSessions(bobs, metadata=admin)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    for _ in range(2):
        await stub.CreateApiKey(
            auth_pb2.CreateApiKeyRequest(
                parent="users/me", api_key=auth_pb2.ApiKey(display_name="ci")
            ),
            metadata=me,
        )
    keys = await stub.ListApiKeys(
        auth_pb2.ListApiKeysRequest(parent="users/me", page_size=1), metadata=me
    )
    assert keys.next_page_token
    inactive_too = auth_pb2.ListApiKeysRequest(
        parent="users/me", show_inactive=True, page_token=keys.next_page_token
    )
    assert await _code(stub.ListApiKeys(inactive_too, metadata=me)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    garbage = auth_pb2.ListUsersRequest(page_token="50")
    assert await _code(stub.ListUsers(garbage, metadata=admin)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )


# --- races and refusals that must still be counted and audited --------------------------------


async def _audited(stub, admin: auth_pb2.LoginResponse, kind: int) -> list[auth_pb2.AuditEvent]:
    reply = await stub.ListAuditEvents(
        auth_pb2.ListAuditEventsRequest(types=[kind], page_size=100),
        metadata=bearer(admin.access_token),
    )
    return list(reply.audit_events)


@pytest.mark.parametrize("auth_options", [{"auth_lockout_threshold": 64}])
async def test_concurrent_wrong_passwords_are_each_counted(auth, stub):
    """Counted in one UPDATE each, not read before the ~50 ms password check and written after:
    64 at once count 64, and the one that reaches the threshold locks the account, once."""
    alice = await signed_up(stub)
    wrong = auth_pb2.LoginRequest(username="alice", password="wrong password!")
    await asyncio.gather(*(_code(stub.Login(wrong)) for _ in range(64)))
    admin = await _admin(auth, stub)
    stats = await stub.GetUserStats(
        auth_pb2.GetUserStatsRequest(name=f"{alice.user.name}/stats"),
        metadata=bearer(admin.access_token),
    )
    assert stats.stats.failed_login_count == 64
    assert stats.stats.consecutive_failed_login_count == 64
    assert len(await _audited(stub, admin, auth_pb2.AUDIT_EVENT_TYPE_USER_LOCKED)) == 1


@pytest.mark.parametrize("auth_options", [{"auth_ip_login_failures": 5}])
async def test_the_per_address_limit_holds_under_concurrency(stub):
    """The window is checked and added to in one step: 20 wrong passwords at once from one
    address get 5 answers and 15 refusals, not 20 answers."""
    await signed_up(stub)
    wrong = auth_pb2.LoginRequest(username="alice", password="wrong password!")
    codes = await asyncio.gather(*(_code(stub.Login(wrong)) for _ in range(20)))
    assert codes.count(grpc.StatusCode.UNAUTHENTICATED) == 5, codes
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 15, codes


async def test_a_rejected_api_key_is_audited(auth, stub):
    login = await signed_up(stub)
    created = await stub.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(parent="users/me", api_key=auth_pb2.ApiKey(display_name="ci")),
        metadata=bearer(login.access_token),
    )
    await stub.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(name=created.api_key.name),
        metadata=bearer(login.access_token),
    )
    for key in (created.secret, "vk_unknown0" + "x" * 40):
        exchange = stub.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=key))
        assert await _code(exchange) == grpc.StatusCode.UNAUTHENTICATED
    rejected = await _audited(
        stub, await _admin(auth, stub), auth_pb2.AUDIT_EVENT_TYPE_API_KEY_REJECTED
    )
    assert [e.resource for e in rejected] == ["", created.api_key.name]


async def test_a_service_name_too_long_is_invalid_and_audited(auth, stub):
    request = auth_pb2.IssueServiceTokenRequest(service="x" * 301, client_secret="a guess")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.IssueServiceToken(request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "service" in _violated_fields(err.value)
    denied = await _audited(
        stub, await _admin(auth, stub), auth_pb2.AUDIT_EVENT_TYPE_SERVICE_TOKEN_DENIED
    )
    assert len(denied) == 1


async def test_an_operator_carries_the_role_and_loses_it_with_its_tokens(auth, stub):
    """`operator` (the Kinect's motor, LED and frame streams) is given by an admin; taking it
    away cuts off the tokens that carried it, as demoting an admin does."""
    olga = await signed_up(stub, "olga")
    admin = bearer((await _admin(auth, stub)).access_token)
    made = await stub.SetUserRole(
        auth_pb2.SetUserRoleRequest(name=olga.user.name, role=auth_pb2.ROLE_OPERATOR),
        metadata=admin,
    )
    assert made.user.role == auth_pb2.ROLE_OPERATOR
    operator = await stub.Login(auth_pb2.LoginRequest(username="olga", password=PASSWORD))
    claims = jwt.decode(operator.access_token, options={"verify_signature": False})
    assert claims["roles"] == ["operator"]
    await stub.SetUserRole(
        auth_pb2.SetUserRoleRequest(name=olga.user.name, role=auth_pb2.ROLE_USER), metadata=admin
    )
    old_token = bearer(operator.access_token)
    me = stub.GetUser(auth_pb2.GetUserRequest(name="users/me"), metadata=old_token)
    assert await _code(me) == grpc.StatusCode.UNAUTHENTICATED


async def test_a_revocation_deletes_denylist_entries_whose_tokens_have_all_expired(auth, stub):
    """Entries outlive their tokens only until the next revocations: each new entry deletes
    EXPIRED_PER_WRITE expired ones, so the table stays as small as the entries in force."""
    assert auth.resources.sessions is not None
    long_ago = datetime.now(UTC) - timedelta(days=400)
    async with auth.resources.sessions.begin() as db:
        for n in range(STALE):
            row = {"id": f"old-{n}", "token_id": f"jti-{n}", "subject": "users/gone"}
            times = {"expire_time": long_ago, "revoke_time": long_ago}
            entry = sa.insert(revoked_tokens).values(session_id="", reason=0, **row, **times)
            await db.execute(entry)
    login = await signed_up(stub)
    await stub.Logout(auth_pb2.LogoutRequest(), metadata=bearer(login.access_token))
    async with auth.resources.sessions() as db:
        subjects = (await db.execute(sa.select(revoked_tokens.c.subject))).scalars().all()
    added = len(subjects) - subjects.count("users/gone")
    assert added >= 1  # the logout's own entries
    assert subjects.count("users/gone") == STALE - added * EXPIRED_PER_WRITE
