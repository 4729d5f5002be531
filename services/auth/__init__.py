"""The auth service: accounts, tokens, API keys, roles, sessions and the audit log."""

from voka.registry import declare

DECLARATION = declare("auth", 50051, __file__, consumes=())
