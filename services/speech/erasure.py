"""A deleted user's speech data: their transcription jobs, voice samples and text entries, rows
first (then nothing points at a file any more), then their files."""

from __future__ import annotations

from services.speech.blobs import Blobs
from services.speech.text_entries.store import TextEntryStore
from services.speech.transcription_store import TranscriptionStore
from services.speech.voice_sample_store import VoiceSampleStore
from voka.erasure import Eraser


def eraser(
    transcriptions: TranscriptionStore,
    voice_samples: VoiceSampleStore,
    text_entries: TextEntryStore,
    blobs: Blobs,
) -> Eraser:
    """The eraser `voka.erasure` runs when auth announces an account's deletion."""

    async def erase(owner: str) -> int:
        paths = [
            *await transcriptions.erase_owner(owner),
            *await voice_samples.erase_owner(owner),
            *await text_entries.erase_owner(owner),
        ]
        for path in paths:
            await blobs.delete(path)
        return len(paths)

    return erase
