"""Images a user's message carries (issue 20, item 3): their bounds and types, and what a model
is told about them — a vision-capable model sees them, any other gets the vision service's
description in its prompt."""
