"""The most StreamTaskUpdates streams one caller holds at once: each open stream costs a page
read per change and a NATS interest, so a caller opening tabs (or a script opening streams)
is refused once at the cap instead of holding the replica's memory and database."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from voka import errors


class StreamCap:
    """`per_caller` streams per subject at once, counted in this replica."""

    def __init__(self, per_caller: int) -> None:
        self._per_caller = per_caller
        self._open: Counter[str] = Counter()

    @contextmanager
    def hold(self, subject: str) -> Iterator[None]:
        """One stream of `subject` while inside; RESOURCE_EXHAUSTED (HTTP 429) at the cap."""
        if self._open[subject] >= self._per_caller:
            raise errors.resource_exhausted(
                f"you hold {self._per_caller} task update streams already, the most per "
                "caller; close one (another tab?) and retry",
                retry_after=timedelta(seconds=5),
            )
        self._open[subject] += 1
        try:
            yield
        finally:
            self._open[subject] -= 1
            if not self._open[subject]:
                del self._open[subject]
