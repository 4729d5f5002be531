"""One package per domain service; each runs as its own process (`python -m services.<domain>`)."""
