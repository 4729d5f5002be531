"""`voka transcribe` and `voka say`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import click

from voka.speech.v1 import speech_pb2
from voka_client.cli.context import Context, json_option, pass_context
from voka_client.cli.output import as_dict, emit_json

ENCODINGS = {
    "wav": speech_pb2.AUDIO_ENCODING_WAV,
    "ogg": speech_pb2.AUDIO_ENCODING_OGG_OPUS,
    "mp3": speech_pb2.AUDIO_ENCODING_MP3,
    "flac": speech_pb2.AUDIO_ENCODING_FLAC,
}


class _Bar(Protocol):
    """What `click.progressbar` gives inside its `with`."""

    def update(self, n_steps: int) -> None: ...


def _advance(bar: _Bar) -> Callable[[speech_pb2.Transcription], None]:
    """Moves `bar` to each step's `progress_percent` (to the end on success)."""
    shown = 0

    def step(job: speech_pb2.Transcription) -> None:
        nonlocal shown
        done = 100 if job.state == speech_pb2.TRANSCRIPTION_STATE_SUCCEEDED else 0
        percent = max(job.progress_percent, done)
        if percent > shown:
            bar.update(percent - shown)
            shown = percent

    return step


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--language", default="", help="Language spoken (`en`); detected when not given.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar on stderr.")
@json_option
@pass_context
def transcribe(context: Context, *, file: Path, language: str, progress: bool) -> None:
    """Transcribe an audio FILE: upload it, follow the job with a progress bar, print the
    transcript."""
    speech = context.client().speech
    if not progress:
        job = speech.transcribe_file(file, language=language)
    else:
        label = f"Transcribing {file.name}"
        with click.progressbar(length=100, label=label, file=sys.stderr) as bar:
            job = speech.transcribe_file(file, language=language, on_progress=_advance(bar))
    if context.json:
        emit_json(as_dict(job))
    else:
        click.echo(job.result.text.strip())


@click.command()
@click.argument("text")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the audio.",
)
@click.option("--voice", default="", help="A voice, `voices/...` (`voka voices` lists them).")
@click.option("--language", default="", help="Language of the text; picks the default voice.")
@click.option(
    "--format",
    "audio_format",
    type=click.Choice(sorted(ENCODINGS)),
    help="Audio format; default: from the output's suffix, else WAV.",
)
@json_option
@pass_context
def say(
    context: Context,
    *,
    text: str,
    output: Path,
    voice: str,
    language: str,
    audio_format: str | None,
) -> None:
    """Speak TEXT into an audio file."""
    chosen = audio_format or output.suffix.lstrip(".").lower()
    encoding = ENCODINGS.get(chosen, speech_pb2.AUDIO_ENCODING_WAV)
    audio = context.client().speech.synthesize(
        text, voice=voice, language=language, encoding=encoding
    )
    output.write_bytes(audio.data)
    if context.json:
        emit_json(
            {"path": str(output), "contentType": audio.content_type, "bytes": len(audio.data)}
        )
    else:
        click.echo(f"Wrote {len(audio.data)} bytes of {audio.content_type} to {output}.")


@click.command()
@click.option("--language", default="", help="Only voices speaking this language (`es`).")
@json_option
@pass_context
def voices(context: Context, language: str) -> None:
    """List the voices `voka say` can use."""
    for voice in context.client().speech.iter_voices(language):
        if context.json:
            emit_json(as_dict(voice))
        else:
            click.echo(f"{voice.name}\t{','.join(voice.languages)}\t{voice.display_name}")
