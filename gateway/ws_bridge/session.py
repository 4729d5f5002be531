"""One socket mapped onto one gRPC stream, within the bounds of the bridge's settings.

Four tasks run per session: `inbound` (socket → gRPC: audio and controls; fresh tokens stay in
the bridge), `outbound` (gRPC → socket: responses, and audio as binary frames), `watch_idle`
and `watch_token` (the credential's deadline: `credential.py`). Each side waits for the other
before taking more, so nothing queues in the bridge: `call.write` returns once gRPC's flow
control takes the message, and `ws.send` once the socket's buffer is under the write limit. The
first task to end decides how the socket closes (`protocol.Closing`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf.message import Message
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from gateway.ws_bridge import protocol
from gateway.ws_bridge.credential import Credential
from gateway.ws_bridge.endpoints import Endpoint
from gateway.ws_bridge.settings import BridgeSettings
from voka import authn

log = logging.getLogger("voka.ws_bridge")
# The error frame before a close is a courtesy: a client that does not read gets the close alone.
ERROR_FRAME_TIMEOUT_S = 1.0
FORWARDED_HEADERS = ("traceparent", "tracestate")


class TokenBucket:
    """`rate` per second on average, `capacity` at once; starts full."""

    def __init__(self, rate: float, capacity: float) -> None:
        self._rate = rate
        self._capacity = capacity
        self._tokens = capacity
        self._at = time.monotonic()

    def take(self, amount: float) -> bool:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if amount > self._tokens:
            return False
        self._tokens -= amount
        return True


class Gone(Exception):
    """The client closed the socket (or lost it): nothing to close, the stream is cancelled."""


class Session:
    """A socket on `endpoint`, its gRPC stream on `channel`."""

    def __init__(
        self,
        ws: ServerConnection,
        endpoint: Endpoint,
        channel: grpc.aio.Channel,
        settings: BridgeSettings,
        verifier: authn.Verifier,
    ) -> None:
        self._ws = ws
        self._endpoint = endpoint
        self._channel = channel
        self._settings = settings
        self._verifier = verifier
        self._last_activity = time.monotonic()
        self._audio = TokenBucket(
            settings.ws_audio_bytes_per_second,
            settings.ws_audio_bytes_per_second * settings.ws_audio_burst_seconds,
        )

    async def run(self) -> protocol.Closing | None:
        """Serve the socket until it must close; returns how, or None when the client left."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._settings.ws_start_timeout_seconds):
                start = protocol.parse_start(await self._text())
        except TimeoutError:
            return protocol.policy(
                "start_timeout",
                f'no "start" within {self._settings.ws_start_timeout_seconds:g} s',
            )
        except protocol.Closing as closing:
            return closing
        except (Gone, ConnectionClosed):
            return None
        try:
            config = self._endpoint.config_request(start.config)
        except protocol.Closing as closing:
            return closing
        call = self._endpoint.method(self._channel)(metadata=self._metadata(start.token))
        remaining = self._settings.ws_max_session_seconds - (time.monotonic() - started)
        credential = Credential(self._verifier, start.token)
        try:
            return await self._relay(call, config, credential, remaining)
        finally:
            call.cancel()

    async def _text(self) -> str:
        message = await self._ws.recv()
        self._last_activity = time.monotonic()
        if not isinstance(message, str):
            raise protocol.bad_message('the first frame must be the text frame "start"')
        return message

    def _metadata(self, token: str) -> Sequence[tuple[str, str]]:
        """The caller's own credential, and the trace context Envoy started."""
        headers = self._ws.request.headers if self._ws.request is not None else {}
        forwarded = [(name, headers[name]) for name in FORWARDED_HEADERS if name in headers]
        return (("authorization", f"Bearer {token}"), *forwarded)

    async def _relay(
        self, call: Any, config: Message, credential: Credential, remaining: float
    ) -> protocol.Closing | None:
        """Run the four tasks; the first to decide ends the session."""
        tasks = {
            asyncio.create_task(self._inbound(call, config, credential), name="inbound"),
            asyncio.create_task(self._outbound(call), name="outbound"),
            asyncio.create_task(self._watch_idle(), name="watch_idle"),
            asyncio.create_task(credential.watch(), name="watch_token"),
        }
        deadline = time.monotonic() + remaining
        try:
            while tasks:
                done, tasks = await asyncio.wait(
                    tasks,
                    timeout=max(0.0, deadline - time.monotonic()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not done:
                    return protocol.policy(
                        "session_too_long",
                        f"sessions last at most {self._settings.ws_max_session_seconds:g} s",
                    )
                for task in done:
                    decided = self._decision(task)
                    if decided is not None:
                        return decided if isinstance(decided, protocol.Closing) else None
            return None
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def _decision(task: asyncio.Task[Any]) -> protocol.Closing | Gone | None:
        """How a finished task ends the session: a Closing, Gone, or None (keep going: the
        client sent `end`, or the stream failed and outbound reports its status)."""
        try:
            result: protocol.Closing | None = task.result()
        except protocol.Closing as closing:
            return closing
        except (Gone, ConnectionClosed):
            return Gone()
        return result

    async def _inbound(self, call: Any, config: Message, credential: Credential) -> None:
        """Socket → stream (the config first), until the client's `end` (half-close) or the
        stream ends. A fresh token moves the credential's deadline and goes no further."""
        try:
            await call.write(config)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            return  # the stream ended: outbound reports how
        while True:
            try:
                message = await self._ws.recv()
            except ConnectionClosed as exc:
                raise Gone() from exc
            self._last_activity = time.monotonic()
            if isinstance(message, bytes):
                if not self._audio.take(len(message)):
                    raise protocol.policy(
                        "audio_rate",
                        f"audio faster than {self._settings.ws_audio_bytes_per_second} bytes/s",
                    )
                request = self._endpoint.audio_request(message)
            elif (control := protocol.parse_control(message)).kind == protocol.TOKEN:
                await credential.refresh(control.token)
                continue
            elif control.kind == protocol.END:
                with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
                    await call.done_writing()
                return
            else:
                request = self._endpoint.control_request(control.kind)
            try:
                await call.write(request)
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
                return  # the stream ended: outbound reports how

    async def _outbound(self, call: Any) -> protocol.Closing:
        """Stream → socket: each response as JSON, its audio as the binary frame after it."""
        try:
            async for response in call:
                self._last_activity = time.monotonic()
                await self._ws.send(protocol.response_frame(response))
                audio = self._endpoint.audio_of(response)
                if audio is not None:
                    await self._ws.send(audio)
        except grpc.aio.AioRpcError:
            return await self._outbound_status(call)
        return protocol.DONE

    async def _outbound_status(self, call: Any) -> protocol.Closing:
        """A failed stream: its status as an error frame (when the client takes it), then
        the close its code maps to."""
        code: grpc.StatusCode = await call.code()
        details: str = await call.details()
        if code == grpc.StatusCode.OK:
            return protocol.DONE
        frame = protocol.error_frame(code, details, await call.trailing_metadata())
        with contextlib.suppress(TimeoutError, ConnectionClosed):
            async with asyncio.timeout(ERROR_FRAME_TIMEOUT_S):
                await self._ws.send(frame)
        log.info("%s stream ended: %s %s", self._endpoint.name, code.name, details)
        return protocol.status_closing(code, details)

    async def _watch_idle(self) -> None:
        idle = self._settings.ws_idle_seconds
        while True:
            quiet = time.monotonic() - self._last_activity
            if quiet >= idle:
                raise protocol.policy("idle_timeout", f"nothing sent or received for {idle:g} s")
            await asyncio.sleep(idle - quiet)
