"""Text to speech: one interface (`base.Synthesizer`), one module per engine, and the catalogue."""
