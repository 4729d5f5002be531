"""The meetings service: clients, projects, meetings, recordings, transcripts and summaries."""

from voka.registry import declare

DECLARATION = declare(
    "meetings",
    50057,
    __file__,
    # the recording pipeline follows its transcription jobs at the speech service
    consumes=("voka.speech.transcription.completed", "voka.speech.transcription.failed"),
)
