"""What every command shares: the server, the credentials (an API key, or the saved login,
whose refreshed tokens are saved back), the output mode, and the client built from them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from voka_client.channel import DEFAULT_URL
from voka_client.cli import config
from voka_client.client import Client
from voka_client.credentials import Tokens
from voka_client.interceptor import Deadlines

Command = TypeVar("Command", bound=Callable[..., Any])


@dataclass
class Context:
    url: str = DEFAULT_URL
    api_key: str = ""
    json: bool = False
    deadlines: Deadlines = field(default_factory=Deadlines)
    _client: Client | None = None

    def client(self) -> Client:
        """The client, made on first use. Without an API key it resumes the login saved for
        this server, if any, and saves each refreshed pair of tokens."""
        if self._client is None:
            saved = None if self.api_key else config.load()
            if saved is not None and saved.url == self.url:
                username = saved.username

                def keep(tokens: Tokens) -> None:
                    config.save(config.Saved(self.url, username, tokens))

                self._client = Client(
                    self.url, tokens=saved.tokens, on_tokens=keep, deadlines=self.deadlines
                )
            else:
                self._client = Client(self.url, api_key=self.api_key, deadlines=self.deadlines)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


pass_context = click.make_pass_decorator(Context, ensure=True)


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(Context).json = True


def json_option(command: Command) -> Command:
    """`--json` on a command, as well as before it (`voka --json translate ...`)."""
    return click.option(
        "--json",
        is_flag=True,
        expose_value=False,
        callback=_remember_json,
        help="Print JSON (one document per line) instead of words.",
    )(command)
