"""MCP tools: servers from a config file, connected with the official SDK."""

from services.assistant.tools.box import McpServerInfo, ToolBox, ToolResult, UnknownServer

__all__ = ["McpServerInfo", "ToolBox", "ToolResult", "UnknownServer"]
