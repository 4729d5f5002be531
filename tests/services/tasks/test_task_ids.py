"""Task ids drawn in blocks are still 128 random bits each, never repeated, and a forked
child never hands out its parent's."""

from __future__ import annotations

import os
import re

import pytest

from services.tasks.validation import TaskIds


def test_ids_are_128_bit_hex_and_unique_across_blocks():
    ids = TaskIds(block=4)
    drawn = [ids.next() for _ in range(1000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in drawn)
    assert len(set(drawn)) == len(drawn)


def test_a_forked_child_draws_a_block_of_its_own(monkeypatch: pytest.MonkeyPatch):
    ids = TaskIds(block=8)
    ids.next()
    parent_next = ids._block[32:64]  # what the parent would hand out next
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as seen from a child after fork
    assert ids.next() != parent_next
