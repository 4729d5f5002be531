"""Text entries: a recording of someone reading a known text, kept with that text, the transcript
recognition made of it and the word error rate between the two."""
