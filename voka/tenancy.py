"""Whose records a caller may see: the one tenancy rule of every service.

* A record is visible to its owner and to admins. To anyone else it does not exist: NOT_FOUND,
  never PERMISSION_DENIED, so names cannot be probed for existence.
* A List's `owner` field follows AIP habits: empty is the caller's own records; `-` is
  everyone's and another user's name is that user's, both for admins only. A non-admin who
  names an owner gets their own records, as before: the filter is a view, not a request for
  access, so it is not refused.

An admin's empty `owner` used to mean everyone's in speech, tasks and assistant and the
admin's own in translate; it is the admin's own everywhere now (CHANGELOG).
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from voka import authn, errors

EVERYONE = "-"


class Owned(Protocol):
    """A record with an owner (`users/{user}` or `services/{domain}`)."""

    @property
    def owner(self) -> str: ...


OwnedT = TypeVar("OwnedT", bound=Owned)


def list_owner(requested: str) -> str | None:
    """The owner a List shows for the current caller; None means every owner."""
    identity = authn.caller()
    if not identity.is_admin or not requested:
        return identity.subject
    return None if requested == EVERYONE else requested


def may_see(owner: str) -> bool:
    """Whether the current caller may see a record owned by `owner`."""
    identity = authn.caller()
    return identity.is_admin or owner == identity.subject


def require_visible(owner: str | None, resource_type: str, name: str) -> None:
    """NOT_FOUND unless the record exists (`owner` is not None) and the caller may see it."""
    if owner is None or not may_see(owner):
        raise errors.not_found(resource_type, name)


def visible(record: OwnedT | None, resource_type: str, name: str) -> OwnedT:
    """`record` itself when the caller may see it; NOT_FOUND when it is missing or not theirs.
    The usual way to read one record for a caller: `tenancy.visible(await store.get(id), ...)`."""
    if record is None or not may_see(record.owner):
        raise errors.not_found(resource_type, name)
    return record
