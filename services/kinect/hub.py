"""Fan-out of captured frames to the open streams, with a rate and a bounded buffer per stream.

One capture loop per (device, camera) runs while at least one stream wants it, never faster
than `max_fps`, however many streams watch: the device is read once, not once per caller. Each
stream takes frames at its own rate and keeps at most `buffer` of them; a reader that falls
behind loses the oldest (a gap in `sequence`), so a slow client never grows a queue here.
The streams a process serves are bounded, and so are one owner's, so a single user cannot hold
every slot.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

from services.kinect.camera import Camera, CaptureError
from services.kinect.frames import FrameType, RawFrame
from voka import errors

Key = tuple[int, FrameType]  # (device index, camera)
FRESH_FRAMES = 2  # a running loop's last frame serves a snapshot while this many periods old


@dataclass(eq=False)  # one per stream, kept in a set by identity
class Subscription:
    """One stream's view: the frames it still has to send, numbered per type."""

    device: int
    owner: str  # the caller's subject: streams are counted per owner
    types: frozenset[FrameType]
    interval: float  # seconds between frames of one type for this stream
    tolerance: float  # early arrival still taken (half a capture period: sensor jitter)
    buffer: int
    pending: deque[tuple[int, RawFrame]] = field(init=False)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    failure: CaptureError | None = None
    _sequence: dict[FrameType, int] = field(default_factory=dict)
    _due: dict[FrameType, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pending = deque(maxlen=self.buffer)

    def offer(self, frame: RawFrame, now: float) -> None:
        """Take `frame` when this stream's rate allows; a full buffer drops its oldest."""
        due = self._due.get(frame.type, now)
        if now < due - self.tolerance:
            return  # beyond the asked rate: skipped, not a gap
        self._due[frame.type] = max(due, now - self.interval) + self.interval
        sequence = self._sequence.get(frame.type, 0) + 1
        self._sequence[frame.type] = sequence
        self.pending.append((sequence, frame))
        self.ready.set()

    def fail(self, failure: CaptureError) -> None:
        self.failure = failure
        self.ready.set()

    async def next(self) -> tuple[int, RawFrame]:
        """The oldest frame not sent yet (waits for one); CaptureError once the device failed."""
        while not self.pending:
            if self.failure is not None:
                raise self.failure
            self.ready.clear()
            await self.ready.wait()
        return self.pending.popleft()


class FrameHub:
    """Capture loops shared by every stream and snapshot of one camera."""

    def __init__(
        self,
        camera: Camera,
        max_fps: int,
        max_streams: int,
        buffer: int,
        max_streams_per_user: int | None = None,
    ) -> None:
        self._camera = camera
        self._period = 1.0 / max_fps
        self._max_streams = max_streams
        self._max_per_owner = max_streams if max_streams_per_user is None else max_streams_per_user
        self._buffer = buffer
        self._subscriptions: set[Subscription] = set()
        self._loops: dict[Key, asyncio.Task[None]] = {}
        self._latest: dict[Key, tuple[float, RawFrame]] = {}

    def active(self, device: int) -> int:
        """Streams open on `device` now."""
        return sum(1 for s in self._subscriptions if s.device == device)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, device: int, types: Iterable[FrameType], fps: int, owner: str
    ) -> AsyncIterator[Subscription]:
        """`owner`'s subscription for as long as the block runs; RESOURCE_EXHAUSTED when
        `max_streams` are open already, or `max_streams_per_user` of them are the owner's."""
        if len(self._subscriptions) >= self._max_streams:
            raise errors.resource_exhausted(
                f"{self._max_streams} frame streams are open already; try again later"
            )
        if sum(1 for s in self._subscriptions if s.owner == owner) >= self._max_per_owner:
            raise errors.resource_exhausted(
                f"you hold {self._max_per_owner} frame streams already, the most per user; "
                "close one first"
            )
        subscription = Subscription(
            device, owner, frozenset(types), 1.0 / fps, self._period / 2, self._buffer
        )
        self._subscriptions.add(subscription)
        for frame_type in subscription.types:
            self._ensure_loop((device, frame_type))
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    async def latest(self, device: int, frame_type: FrameType) -> RawFrame:
        """A running loop's fresh frame, else one captured now."""
        key = (device, frame_type)
        seen = self._latest.get(key)
        now = asyncio.get_running_loop().time()
        if seen is not None and now - seen[0] < FRESH_FRAMES * self._period:
            return seen[1]
        return await self._camera.capture(device, frame_type)

    async def close(self) -> None:
        loops = list(self._loops.values())
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)

    def _watchers(self, key: Key) -> list[Subscription]:
        device, frame_type = key
        return [s for s in self._subscriptions if s.device == device and frame_type in s.types]

    def _ensure_loop(self, key: Key) -> None:
        running = self._loops.get(key)
        if running is None or running.done():
            self._loops[key] = asyncio.create_task(self._capture(key))

    async def _capture(self, key: Key) -> None:
        """Capture while someone watches. A loop is never cancelled for lack of watchers: it
        ends at its next frame, so a capture in flight always completes."""
        clock = asyncio.get_running_loop()
        while watchers := self._watchers(key):
            started = clock.time()
            try:
                frame = await self._camera.capture(*key)
            except CaptureError as exc:
                for watcher in watchers:
                    watcher.fail(exc)
                return
            now = clock.time()
            self._latest[key] = (now, frame)
            for watcher in self._watchers(key):
                watcher.offer(frame, now)
            await asyncio.sleep(max(0.0, started + self._period - clock.time()))
