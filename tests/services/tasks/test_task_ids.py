"""Task ids drawn in blocks are still 128 random bits each, never repeated, and a forked
child never hands out its parent's."""

from __future__ import annotations

import os
import re

from services.tasks.validation import TaskIds


def test_ids_are_128_bit_hex_and_unique_across_blocks():
    ids = TaskIds(block=4)
    drawn = [ids.next() for _ in range(1000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in drawn)
    assert len(set(drawn)) == len(drawn)


def test_a_forked_child_draws_a_block_of_its_own():
    ids = TaskIds(block=8)
    ids.next()
    parent_next = ids._block[32:64]  # what the parent would hand out next
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: its next id, through the pipe, and out at once
        os.write(write, ids.next().encode())
        os._exit(0)
    os.close(write)
    drawn = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(child, 0)
    assert re.fullmatch(r"[0-9a-f]{32}", drawn)
    assert drawn != parent_next
    assert ids.next() == parent_next  # the parent goes on with its own block
