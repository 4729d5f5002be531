"""The assistant service: conversations, streamed replies, model providers and MCP tools."""
