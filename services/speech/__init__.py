"""The speech service: speech-to-text, text-to-speech, voices and async transcription."""
