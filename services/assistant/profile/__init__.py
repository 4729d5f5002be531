"""The adaptive profile: per user, a learned hemisphere balance, tone, language and verbosity,
learned from thumbs up/down on replies (with their reasons) and from preference memories, and
applied to the system prompt of the user's turns."""
