"""The MCP servers file: which servers to connect, over stdio or streamable HTTP.

JSON or YAML, the shape other MCP clients use, so an existing file can be reused:

    {"servers": {"calc": {"command": "python", "args": ["-m", "calc_server"]},
                 "search": {"url": "http://127.0.0.1:8931/mcp"}}}

(`mcpServers` is accepted for `servers`.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class McpServerConfig(BaseModel):
    """One MCP server: a command to spawn (stdio) or an endpoint URL (streamable HTTP)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    cwd: Path | None = None
    url: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    connect_timeout: float = Field(default=20.0, gt=0)

    @model_validator(mode="after")
    def _one_transport(self) -> Self:
        if bool(self.command) == bool(self.url):
            raise ValueError(f"MCP server {self.name!r}: give exactly one of command or url")
        return self

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "streamable_http"

    @property
    def target(self) -> str:
        return " ".join((self.command, *self.args)) if self.command else self.url


def load_servers(path: Path) -> tuple[McpServerConfig, ...]:
    """Parse the servers file; YAML for .yaml/.yml, JSON otherwise."""
    text = path.read_text()
    data = yaml.safe_load(text) if path.suffix in {".yaml", ".yml"} else json.loads(text)
    servers = (data or {}).get("servers", (data or {}).get("mcpServers", {}))
    return tuple(
        McpServerConfig.model_validate({"name": name, **entry}) for name, entry in servers.items()
    )
