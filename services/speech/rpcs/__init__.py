"""The SpeechService: one servicer assembled from one class per resource of the contract
(recognition, recognition models, transcriptions, synthesis, voices, voice samples, text
entries)."""

from __future__ import annotations

from services.speech.rpcs.recognition import RecognitionRpcs
from services.speech.rpcs.recognition_models import RecognitionModelRpcs
from services.speech.rpcs.synthesis import SynthesisRpcs
from services.speech.rpcs.text_entries import TextEntryRpcs
from services.speech.rpcs.transcriptions import TranscriptionRpcs
from services.speech.rpcs.voice_samples import VoiceSampleRpcs
from services.speech.rpcs.voices import VoiceRpcs


class SpeechServicer(
    RecognitionRpcs,
    RecognitionModelRpcs,
    TranscriptionRpcs,
    SynthesisRpcs,
    VoiceRpcs,
    VoiceSampleRpcs,
    TextEntryRpcs,
):
    """Speech to text, text to speech, voices, voice samples and text entries."""


__all__ = ["SpeechServicer"]
