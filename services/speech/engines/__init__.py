"""Recognition engines: one interface (`base.Recognizer`), one module per Whisper runtime."""
