"""List RPCs answer a page and a `next_page_token` (AIP-158); the `iter_*` methods walk every
page lazily with this one helper, so a caller just loops."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")
# The services accept 1 to 500; a larger page means fewer round trips for a full walk.
PAGE_SIZE = 100


def iter_pages(fetch: Callable[[str], tuple[Iterable[Item], str]]) -> Iterator[Item]:
    """Items of every page: `fetch(page_token)` answers one page's items and the next token
    (empty on the last page). Pages are fetched only as the caller gets to them."""
    token = ""
    while True:
        items, token = fetch(token)
        yield from items
        if not token:
            return
