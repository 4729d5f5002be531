"""Webhooks: external URLs subscribed to the mesh's events, each event delivered to each
matching webhook as a `webhooks.deliver` task (`functions/webhooks.py`), so deliveries get the
scheduler's retries, dead letters and metrics for free. Its RPCs are in `rpcs/webhooks.py`."""
