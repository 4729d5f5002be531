"""Whose rows a caller may touch: its own; admins everyone's. Someone else's resource is
NOT_FOUND, never PERMISSION_DENIED, so names cannot be probed for existence."""

from __future__ import annotations

from voka import authn, errors


def scope(requested_owner: str) -> str | None:
    """The owner a list shows: the caller's, or for admins the one asked for (None: all)."""
    identity = authn.caller()
    if identity.is_admin:
        return requested_owner or None
    return identity.subject


def check_visible(owner: str, resource_type: str, name: str) -> None:
    identity = authn.caller()
    if owner != identity.subject and not identity.is_admin:
        raise errors.not_found(resource_type, name)
