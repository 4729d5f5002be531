"""The speech service: speech-to-text, text-to-speech, voices and async transcription."""

from voka.registry import declare

# It reads the recordings meetings hands it by reference (CreateTranscriptionRequest.audio_uri).
DECLARATION = declare("speech", 50053, __file__, consumes=(), reads_objects=("meetings",))
