"""Meetings, their participants, recordings, transcripts and summaries, and the recording
pipeline that turns an upload into a transcript and a summary through the speech and
assistant services."""
