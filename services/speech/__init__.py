"""The speech service: speech-to-text, text-to-speech, voices and async transcription."""

from voka.registry import declare

DECLARATION = declare("speech", 50053, __file__, consumes=())
