"""Records of the auth stores → contract messages: the one place that decides what a client
sees of a record (never a hash or a secret)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from services.auth.store import (
    ApiKeyRecord,
    AuditEventRecord,
    RevokedTokenRecord,
    SessionRecord,
    UserRecord,
    now,
)
from voka import wellknown
from voka.auth.v1 import auth_pb2, events_pb2
from voka.wellknown import utc

ROLE_NAMES = {
    auth_pb2.ROLE_USER: "user",
    auth_pb2.ROLE_OPERATOR: "operator",
    auth_pb2.ROLE_ADMIN: "admin",
}


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    return None if value is None else wellknown.timestamp(value)


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def locked_until(row: UserRecord) -> datetime | None:
    """When the failed-login lock of the account ends, or None when it is not locked."""
    lock = row.lock_expire_time
    return utc(lock) if lock is not None and utc(lock) > now() else None


def user_state(row: UserRecord) -> auth_pb2.UserState.ValueType:
    if row.disabled:
        return auth_pb2.USER_STATE_DISABLED
    if locked_until(row) is not None:
        return auth_pb2.USER_STATE_LOCKED
    return auth_pb2.USER_STATE_ACTIVE


def user(row: UserRecord) -> auth_pb2.User:
    return auth_pb2.User(
        name=row.name,
        username=row.username,
        email=row.email,
        display_name=row.display_name or row.username,
        role=row.role,
        state=user_state(row),
        state_reason=row.state_reason,
        lock_expire_time=timestamp(locked_until(row)),
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
        password_change_time=timestamp(row.password_change_time),
        last_login_time=timestamp(row.last_login_time),
    )


def preferences(row: UserRecord) -> auth_pb2.Preferences:
    return auth_pb2.Preferences(
        name=f"users/{row.id}/preferences",
        language_code=row.language_code,
        time_zone=row.time_zone,
        settings=struct(row.settings),
        update_time=timestamp(row.preferences_update_time),
    )


def session(row: SessionRecord, current_sid: str) -> auth_pb2.Session:
    return auth_pb2.Session(
        name=f"users/{row.user_id}/sessions/{row.id}",
        current=row.id == current_sid,
        ip_address=row.ip_address,
        user_agent=row.user_agent,
        last_ip_address=row.last_ip_address,
        refresh_count=row.refresh_count,
        create_time=timestamp(row.create_time),
        last_refresh_time=timestamp(row.last_refresh_time),
        expire_time=timestamp(row.expire_time),
        max_expire_time=timestamp(row.max_expire_time),
    )


def api_key_state(row: ApiKeyRecord) -> auth_pb2.ApiKeyState.ValueType:
    if row.revoke_time is not None:
        return auth_pb2.API_KEY_STATE_REVOKED
    if row.expire_time is not None and utc(row.expire_time) <= now():
        return auth_pb2.API_KEY_STATE_EXPIRED
    return auth_pb2.API_KEY_STATE_ACTIVE


def api_key(row: ApiKeyRecord) -> auth_pb2.ApiKey:
    return auth_pb2.ApiKey(
        name=row.name,
        display_name=row.display_name,
        key_prefix=row.key_prefix,
        expire_time=timestamp(row.expire_time),
        state=api_key_state(row),
        create_time=timestamp(row.create_time),
        last_used_time=timestamp(row.last_used_time),
        revoke_time=timestamp(row.revoke_time),
    )


def audit_event(row: AuditEventRecord) -> auth_pb2.AuditEvent:
    return auth_pb2.AuditEvent(
        name=f"audit-events/{row.id}",
        type=row.type,
        event_time=timestamp(row.event_time),
        actor=row.actor,
        user=row.user,
        login=row.login,
        resource=row.resource,
        ip_address=row.ip_address,
        user_agent=row.user_agent,
        reason=row.reason,
        details=struct(row.details),
    )


def revoked_token(row: RevokedTokenRecord) -> auth_pb2.RevokedToken:
    return auth_pb2.RevokedToken(revoke_time=timestamp(row.revoke_time), **_revocation(row))


def revoked_token_event(row: RevokedTokenRecord) -> events_pb2.AccessTokenRevokedEvent:
    """What every other service's denylist copy takes in (voka.revocations)."""
    return events_pb2.AccessTokenRevokedEvent(**_revocation(row))


def _revocation(row: RevokedTokenRecord) -> dict[str, Any]:
    """The fields a listed denylist entry and its event share."""
    return {
        "token_id": row.token_id,
        "subject": row.subject,
        "session_id": row.session_id,
        "issued_before": timestamp(row.issued_before),
        "expire_time": timestamp(row.expire_time),
        "reason": row.reason,
    }
