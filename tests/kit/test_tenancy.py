"""voka.tenancy: the one rule of whose records a caller sees, as a table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
import pytest

from voka import authn, errors, tenancy


@contextmanager
def calling_as(subject: str, *roles: str) -> Iterator[None]:
    """The caller the kit's identity hook would have set for an RPC."""
    identity = authn.Identity(subject, frozenset(roles), token_id="t", expires_at=0.0)
    token = authn._caller.set(identity)
    try:
        yield
    finally:
        authn._caller.reset(token)


ALICE, BOB, ROOT = "users/alice", "users/bob", "users/root"


@pytest.mark.parametrize(
    ("caller", "roles", "requested", "shown"),
    [
        (ALICE, (), "", ALICE),  # empty: the caller's own
        (ALICE, (), "-", ALICE),  # everyone's is for admins; a user still sees their own
        (ALICE, (), BOB, ALICE),  # another user's: likewise
        (ALICE, (), ALICE, ALICE),
        (ROOT, ("admin",), "", ROOT),  # an admin's empty owner is their own too (AIP)
        (ROOT, ("admin",), "-", None),  # everyone's
        (ROOT, ("admin",), BOB, BOB),
    ],
)
def test_the_owner_a_list_shows(
    caller: str, roles: tuple[str, ...], requested: str, shown: str | None
) -> None:
    with calling_as(caller, *roles):
        assert tenancy.list_owner(requested) == shown


@pytest.mark.parametrize(
    ("caller", "roles", "owner", "visible"),
    [
        (ALICE, (), ALICE, True),
        (ALICE, (), BOB, False),
        (ROOT, ("admin",), BOB, True),
        ("services/tasks", ("service",), BOB, False),  # a service is not an admin
    ],
)
def test_who_sees_a_record(caller: str, roles: tuple[str, ...], owner: str, visible: bool) -> None:
    with calling_as(caller, *roles):
        assert tenancy.may_see(owner) is visible
        if visible:
            tenancy.require_visible(owner, "Thing", "things/1")
        else:
            with pytest.raises(errors.VokaError) as refused:
                tenancy.require_visible(owner, "Thing", "things/1")
            assert refused.value.code == grpc.StatusCode.NOT_FOUND


def test_a_missing_record_is_not_found_even_for_admins() -> None:
    with calling_as(ROOT, "admin"), pytest.raises(errors.VokaError) as refused:
        tenancy.require_visible(None, "Thing", "things/404")
    assert refused.value.code == grpc.StatusCode.NOT_FOUND
    assert "things/404" in str(refused.value)


@dataclass(frozen=True)
class Thing:
    owner: str


def test_visible_hands_back_the_record_its_caller_may_see() -> None:
    mine = Thing(ALICE)
    with calling_as(ALICE):
        assert tenancy.visible(mine, "Thing", "things/1") is mine
        for missing_or_not_mine in (None, Thing(BOB)):
            with pytest.raises(errors.VokaError) as refused:
                tenancy.visible(missing_or_not_mine, "Thing", "things/1")
            assert refused.value.code == grpc.StatusCode.NOT_FOUND
    with calling_as(ROOT, "admin"):
        assert tenancy.visible(Thing(BOB), "Thing", "things/1").owner == BOB
