"""Voka's Python client: `Client` speaks gRPC to the mesh's edge with an API key or a login
session, retries, deadlines, page iterators and stream helpers; `voka` is its command line."""

from voka_client.assistant import Reply
from voka_client.channel import DEFAULT_URL
from voka_client.client import Client
from voka_client.credentials import ApiKey, Session, Tokens
from voka_client.errors import (
    JobFailedError,
    ReplyFailedError,
    SessionEndedError,
    VokaClientError,
)
from voka_client.interceptor import Deadlines

__all__ = [
    "DEFAULT_URL",
    "ApiKey",
    "Client",
    "Deadlines",
    "JobFailedError",
    "Reply",
    "ReplyFailedError",
    "Session",
    "SessionEndedError",
    "Tokens",
    "VokaClientError",
]
