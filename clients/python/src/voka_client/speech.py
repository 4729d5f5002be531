"""Speech: transcribing a file as a job watched to its end, transcribing short audio at once,
and speaking a text."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
from google.api import httpbody_pb2

from voka.speech.v1 import speech_pb2, speech_pb2_grpc
from voka_client.errors import JobFailedError
from voka_client.pagination import PAGE_SIZE, iter_pages

FINAL_STATES = frozenset(
    {
        speech_pb2.TRANSCRIPTION_STATE_SUCCEEDED,
        speech_pb2.TRANSCRIPTION_STATE_FAILED,
        speech_pb2.TRANSCRIPTION_STATE_CANCELLED,
    }
)


# Larger files are streamed (gRPC's default message limit is 4 MiB), in 1 MiB messages.
STREAM_FROM_BYTES = 4 * 1024 * 1024
PIECE_BYTES = 1024 * 1024


def audio_body(path: Path) -> httpbody_pb2.HttpBody:
    """A file as an upload. The service sniffs the format; the type is for logs and people."""
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return httpbody_pb2.HttpBody(content_type=content_type, data=path.read_bytes())


def _upload_stream(
    path: Path, config: speech_pb2.RecognitionConfig, request_id: str
) -> Iterator[speech_pb2.UploadTranscriptionRequest]:
    """The file in PIECE_BYTES messages, the options on the first."""
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    with path.open("rb") as file:
        first = True
        while piece := file.read(PIECE_BYTES):
            body = httpbody_pb2.HttpBody(content_type=content_type, data=piece)
            if first:
                yield speech_pb2.UploadTranscriptionRequest(
                    body=body, config=config, file_name=path.name[:255], request_id=request_id
                )
                first = False
            else:
                yield speech_pb2.UploadTranscriptionRequest(body=body)


class Speech:
    """`voka.speech.v1.SpeechService`, through the client's channel."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.stub = speech_pb2_grpc.SpeechServiceStub(channel)

    def transcribe(self, path: Path, *, language: str = "") -> speech_pb2.TranscribeResponse:
        """Short audio, transcribed in the one call (Transcribe)."""
        request = speech_pb2.TranscribeRequest(
            body=audio_body(path), config=speech_pb2.RecognitionConfig(language=language)
        )
        return self.stub.Transcribe(request)

    def create_transcription(
        self, path: Path, *, language: str = "", request_id: str = ""
    ) -> speech_pb2.Transcription:
        """Uploads a file and queues its transcription; answers the QUEUED job. A file over
        STREAM_FROM_BYTES is streamed (UploadTranscription) in PIECE_BYTES pieces, read as
        they are sent, so a recording of any length never sits whole in memory."""
        config = speech_pb2.RecognitionConfig(language=language)
        if path.stat().st_size > STREAM_FROM_BYTES:
            return self.stub.UploadTranscription(
                _upload_stream(path, config, request_id)
            ).transcription
        request = speech_pb2.CreateTranscriptionRequest(
            body=audio_body(path), config=config, file_name=path.name[:255], request_id=request_id
        )
        return self.stub.CreateTranscription(request).transcription

    def watch_transcription(self, name: str) -> Iterator[speech_pb2.Transcription]:
        """The job now, then at each state change and progress step; the stream ends after a
        final state, whose message carries the full transcript."""
        request = speech_pb2.WatchTranscriptionRequest(name=name)
        for change in self.stub.WatchTranscription(request):
            yield change.transcription

    def transcribe_file(
        self,
        path: Path,
        *,
        language: str = "",
        on_progress: Callable[[speech_pb2.Transcription], None] | None = None,
    ) -> speech_pb2.Transcription:
        """Uploads `path`, follows the job (each step to `on_progress`) and answers it
        SUCCEEDED, with its transcript; any other end raises JobFailedError."""
        job = self.create_transcription(path, language=language)
        for job_now in self.watch_transcription(job.name):
            job = job_now
            if on_progress is not None:
                on_progress(job)
        if job.state != speech_pb2.TRANSCRIPTION_STATE_SUCCEEDED:
            state = speech_pb2.TranscriptionState.Name(job.state)
            raise JobFailedError(job.name, state, job.error.message)
        return job

    def synthesize(
        self,
        text: str,
        *,
        voice: str = "",
        language: str = "",
        encoding: speech_pb2.AudioEncoding.ValueType = speech_pb2.AUDIO_ENCODING_UNSPECIFIED,
    ) -> httpbody_pb2.HttpBody:
        """`text` spoken: the audio (`data`) and its MIME type (`content_type`), WAV unless
        another encoding is asked for."""
        request = speech_pb2.SynthesizeSpeechRequest(
            text=text, voice=voice, language=language, audio_encoding=encoding
        )
        return self.stub.SynthesizeSpeech(request)

    def iter_transcriptions(self) -> Iterator[speech_pb2.Transcription]:
        """The caller's transcription jobs, newest first."""

        def page(token: str) -> tuple[list[speech_pb2.Transcription], str]:
            request = speech_pb2.ListTranscriptionsRequest(page_size=PAGE_SIZE, page_token=token)
            reply = self.stub.ListTranscriptions(request)
            return list(reply.transcriptions), reply.next_page_token

        return iter_pages(page)

    def iter_voices(self, language: str = "") -> Iterator[speech_pb2.Voice]:
        """The voices synthesis can use, of one language or all."""

        def page(token: str) -> tuple[list[speech_pb2.Voice], str]:
            request = speech_pb2.ListVoicesRequest(
                page_size=PAGE_SIZE, page_token=token, language=language
            )
            reply = self.stub.ListVoices(request)
            return list(reply.voices), reply.next_page_token

        return iter_pages(page)
