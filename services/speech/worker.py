"""The transcription worker: consumes `voka.speech.transcription.requested`, transcribes the
stored upload, and reports progressed / completed / failed / cancelled.

`python -m services.speech.worker` runs one on its own (same VOKA_* settings as the service:
the data directory, the database and NATS are shared); the service also embeds one unless
VOKA_SPEECH_EMBEDDED_WORKER=false.

Delivery is at least once, the job row is the truth:
* the requested message is acked only when the job is final, so a worker killed mid-job leaves
  it unacked and JetStream hands it to another worker after `speech_job_ack_seconds`; the next
  attempt counts itself (`attempts`) and, past `speech_job_max_attempts`, fails the job rather
  than trying again;
* audio that does not decode fails the job at once (INVALID_ARGUMENT), never retried;
* every write is conditional on the attempt (see `transcription_store`), so a worker given up
  on cannot overwrite the one that took over;
* a job's error is read by its owner, so it says what happened in the contract's words; the
  paths and exceptions behind it go to the log.

Memory is bounded whatever the recording's length: the file is hashed in 1 MiB reads, decoded
packet by packet as it is read (`audio.open_file`) and transcribed in chunks of at most 30 s of
speech (`chunked`), so a job holds at most about 6 MB of samples (three 30 s stretches of 16 kHz
float32) besides the model's own working memory, and one job's transcript (its text and
segments, which grow with the speech: about 1 MB an hour).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from google.rpc import code_pb2
from nats.aio.msg import Msg

from services.speech import audio, chunked, events
from services.speech.blobs import Blobs, file_sha256
from services.speech.chunked import Chunker
from services.speech.engines.base import Transcript
from services.speech.recognition import Cancelled, Recognition
from services.speech.records import TranscriptionRecord
from services.speech.settings import SpeechSettings
from services.speech.transcription_store import TranscriptionStore
from voka import db, event_loop, telemetry
from voka.bus import Bus, Event, Listener, Subscription
from voka.errors import VokaError
from voka.speech.v1 import events_pb2, speech_pb2

log = logging.getLogger("voka.speech.worker")
DURABLE = "speech-transcribers"
BUSY_PAUSE = 1.0  # the recognition queue is full: try again after this


def _now() -> datetime:
    return datetime.now(UTC)


class Worker:
    """One consumer of transcription jobs (several run `concurrency` jobs each)."""

    def __init__(
        self,
        bus: Bus,
        jobs: TranscriptionStore,
        blobs: Blobs,
        recognition: Recognition,
        settings: SpeechSettings,
    ) -> None:
        self._bus = bus
        self._jobs = jobs
        self._blobs = blobs
        self._recognition = recognition
        self._settings = settings
        self._cancels: dict[str, threading.Event] = {}
        self._subscription: Subscription[events_pb2.TranscriptionRequestedEvent] | None = None
        self._cancel_feed: Listener | None = None
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    async def start(self) -> None:
        settings = self._settings
        # Every worker hears every cancel (a plain subscription, not a shared consumer).
        self._cancel_feed = await self._bus.listen(events.CANCELLATION_SUBJECT, self._on_cancel)
        self._subscription = await self._bus.subscribe(
            events_pb2.TranscriptionRequestedEvent, DURABLE, self._on_requested,
            backoff=(settings.speech_job_ack_seconds,),
            max_deliver=settings.speech_job_max_attempts + 1,  # the extra one fails the job
            concurrency=settings.speech_job_concurrency, batch=settings.speech_job_concurrency,
            handler_timeout=None,
        )  # fmt: skip

    async def stop(self, grace: float = 10.0) -> None:
        if self._subscription is not None:
            await self._subscription.stop(grace)
        if self._cancel_feed is not None:
            await self._cancel_feed.stop()

    async def _on_cancel(self, msg: Msg) -> None:
        with contextlib.suppress(Exception):
            event = events_pb2.TranscriptionCancellationRequestedEvent.FromString(msg.data)
            flag = self._cancels.get(event.transcription.removeprefix("transcriptions/"))
            if flag is not None:
                flag.set()

    async def _on_requested(self, event: Event[events_pb2.TranscriptionRequestedEvent]) -> None:
        job_id = event.message.transcription.removeprefix("transcriptions/")
        record = await self._jobs.get(job_id)
        if record is None:
            return  # deleted meanwhile
        if record.final:
            await self._publish_final(record)  # again: the last worker may have died before
            return
        if record.attempts >= self._settings.speech_job_max_attempts:
            await self._give_up(record)
            return
        flag = self._cancels.setdefault(job_id, threading.Event())  # before RUNNING is visible
        try:
            running = await self._jobs.start(job_id, self.name, _now())
            if running is not None:
                await self._attempt(running, event.message, flag)
        finally:
            self._cancels.pop(job_id, None)

    async def _give_up(self, record: TranscriptionRecord) -> None:
        message = f"no worker finished it in {record.attempts} attempts (workers died or hung)"
        await self._fail(record, code_pb2.INTERNAL, message)

    async def _attempt(
        self,
        record: TranscriptionRecord,
        request: events_pb2.TranscriptionRequestedEvent,
        flag: threading.Event,
    ) -> None:
        if record.cancel_requested:
            await self._stop_cancelled(record)
            return
        path = await self._upload(record, request)
        if path is None:
            return
        try:
            await self._finish(await self._transcribe(record, path, flag))
        except audio.AudioError as exc:  # no retry helps: the job fails for good
            await self._fail(record, code_pb2.INVALID_ARGUMENT, f"{exc} ({exc.reason})")
        except Cancelled:
            await self._stop_cancelled(record)
        except VokaError as exc:
            await self._fail(record, exc.code.value[0], exc.message)
        except Exception as exc:
            if record.attempts < self._settings.speech_job_max_attempts:
                raise  # JetStream redelivers it after the backoff: another attempt
            log.error("transcription %s failed for good", record.id, exc_info=exc)
            await self._fail(record, code_pb2.INTERNAL, "the transcription failed on the server")

    async def _upload(
        self, record: TranscriptionRecord, request: events_pb2.TranscriptionRequestedEvent
    ) -> Path | None:
        """The stored upload, its SHA-256 checked (read in chunks); None when the job failed
        for good on it (no retry helps)."""
        try:
            path = self._blobs.path(self._blobs.relative(request.audio_uri))
            digest = await asyncio.to_thread(file_sha256, path)
        except (OSError, ValueError) as exc:
            log.error("transcription %s: its upload cannot be read: %s", record.id, exc)
            await self._fail(record, code_pb2.DATA_LOSS, "the stored upload is gone")
            return None
        if digest != record.sha256:
            await self._fail(record, code_pb2.DATA_LOSS, "the stored upload changed")
            return None
        return path

    async def _fail(self, record: TranscriptionRecord, code: int, message: str) -> None:
        await self._finish(await self._jobs.fail(record.id, record.attempts, code, message, _now()))

    async def _stop_cancelled(self, record: TranscriptionRecord) -> None:
        reason = record.error.message if record.error is not None else "cancelled"
        await self._finish(
            await self._jobs.stop_cancelled(record.id, record.attempts, reason, _now())
        )

    async def _transcribe(
        self, record: TranscriptionRecord, path: Path, flag: threading.Event
    ) -> TranscriptionRecord | None:
        """Decode the file as it is read and transcribe it chunk by chunk (`chunked`), off
        the event loop; progress after each chunk, cancel checked between chunks (and at each
        segment within one)."""
        started = time.perf_counter()
        opened = audio.open_file(
            path, max_bytes=self._settings.speech_max_stream_upload_bytes,
            max_seconds=self._settings.speech_job_max_seconds,
        )  # fmt: skip
        stream = await asyncio.to_thread(opened.__enter__)
        try:
            chunker = Chunker()
            parts = await self._by_chunk(record, chunker.chunks(stream.chunks),
                                         stream.claimed_seconds, flag)  # fmt: skip
        finally:
            await asyncio.to_thread(opened.__exit__, None, None, None)
        if chunker.seconds == 0:
            raise audio.AudioError("empty", f"the {stream.format.name} file holds no audio samples")
        transcript = chunked.joined(parts, chunker.seconds)
        elapsed = time.perf_counter() - started
        result = await self._recognition.as_result(transcript, record.config, elapsed)
        return await self._jobs.succeed(record.id, record.attempts, result, _now())

    async def _by_chunk(
        self, record: TranscriptionRecord, chunks: Iterator[chunked.Chunk], total: float,
        flag: threading.Event,
    ) -> list[Transcript]:  # fmt: skip
        """Each chunk's transcript on the audio's timeline. The language the first chunk was
        heard in holds for the rest when the request named none."""
        await self.report(record, 0.0, total)
        config = speech_pb2.RecognitionConfig()
        config.CopyFrom(record.config)
        parts: list[Transcript] = []
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            if flag.is_set():
                raise Cancelled("the recognition was cancelled")
            heard = await self._recognised(chunk.samples, config, flag)
            segments = tuple(chunked.on_audio_time(s, chunk) for s in heard.segments)
            parts.append(dataclasses.replace(heard, segments=segments))
            config.language = config.language or heard.language
            await self.report(record, chunk.end, max(total, chunk.end))
        return parts

    async def _recognised(
        self, samples: np.ndarray, config: speech_pb2.RecognitionConfig, flag: threading.Event
    ) -> Transcript:
        while True:
            try:
                return await self._recognition.transcript(samples, config, None, flag)
            except VokaError as exc:
                if exc.code.name != "RESOURCE_EXHAUSTED":
                    raise
                await asyncio.sleep(BUSY_PAUSE)  # the bus keeps the delivery alive meanwhile

    async def report(self, record: TranscriptionRecord, processed: float, total: float) -> None:
        """The row holds the progress; the event is a hint for watchers, who re-read the row
        (`Bus.emit`: not waited for). A NATS outage, such as a stream's leader moving, then
        delays no transcription and fails none: only the final events must be stored."""
        updated = await self._jobs.progress(record.id, record.attempts, processed, total, _now())
        if updated is not None:
            await self._bus.emit(events.progressed(updated, self.name, total))

    async def _finish(self, record: TranscriptionRecord | None) -> None:
        """Publish the outcome the store accepted (None: another writer got there first)."""
        if record is not None:
            await self._publish_final(record)

    async def _publish_final(self, record: TranscriptionRecord) -> None:
        message, event_id = events.final(record)
        await self._bus.publish(message, event_id=event_id)


async def _serve(settings: SpeechSettings) -> None:
    engine = db.create_engine(settings.sqlalchemy_url)
    await db.migrate(engine, "speech")
    bus = await Bus.connect(settings.nats_url, name="voka-speech-worker")
    recognition = Recognition.from_settings(settings)
    store = TranscriptionStore(db.session_factory(engine))
    worker = Worker(bus, store, Blobs(settings.data_dir / "speech"), recognition, settings)
    await worker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("speech worker %s waiting for jobs", worker.name)
    await stop.wait()
    await worker.stop(settings.shutdown_grace_seconds)
    recognition.pool.close()
    await bus.close()
    await engine.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    argparse.ArgumentParser(description="A Voka speech transcription worker.").parse_args(argv)
    settings = SpeechSettings(service="speech")
    telemetry.setup_logging("speech-worker", settings.log_level, settings.log_json)
    event_loop.run(_serve(settings), settings.event_loop)


if __name__ == "__main__":
    main()
