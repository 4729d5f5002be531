"""The assistant service: conversations, streamed replies, model providers and MCP tools."""

from voka.registry import declare

DECLARATION = declare("assistant", 50054, __file__, consumes=())
