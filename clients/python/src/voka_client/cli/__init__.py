"""`voka`, the command line: each command a thin layer over `voka_client.Client`. Failed calls
end the command with the gRPC status and the server's message on stderr and exit code 1."""

from __future__ import annotations

from typing import Any

import click
import grpc

from voka_client.channel import DEFAULT_URL
from voka_client.cli.account import login, logout, whoami
from voka_client.cli.chat import chat
from voka_client.cli.context import Context, json_option
from voka_client.cli.meetings import meetings
from voka_client.cli.speech import say, transcribe, voices
from voka_client.cli.tasks import tasks
from voka_client.cli.translate import translate
from voka_client.cli.vision import vision
from voka_client.client import API_KEY_ENV, URL_ENV
from voka_client.errors import VokaClientError, status_of
from voka_client.interceptor import Deadlines


class _VokaGroup(click.Group):
    """Turns the client's errors into one line for people instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except grpc.RpcError as error:
            code, message = status_of(error)
            raise click.ClickException(f"{code.name}: {message}") from error
        except VokaClientError as error:
            raise click.ClickException(str(error)) from error


@click.group(cls=_VokaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    envvar=URL_ENV,
    default=DEFAULT_URL,
    show_default=True,
    help=f"The Voka edge (Envoy), http://host:port or https://host; also ${URL_ENV}.",
)
@click.option(
    "--api-key", envvar=API_KEY_ENV, default="", help=f"An API key (vk_...); also ${API_KEY_ENV}."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=Deadlines.unary,
    show_default=True,
    help="Deadline of each call, in seconds (streams get an hour).",
)
@json_option
@click.version_option(package_name="voka-client")
@click.pass_context
def cli(ctx: click.Context, url: str, api_key: str, timeout: float) -> None:
    """Voka from the command line: translation, speech, the assistant, tasks, meetings and
    vision, over gRPC through the mesh's edge. Log in once (`voka login`) or set an API key."""
    context = ctx.ensure_object(Context)
    context.url = url
    context.api_key = api_key
    context.deadlines = Deadlines(unary=timeout)
    ctx.call_on_close(context.close)


for command in (
    login,
    logout,
    whoami,
    translate,
    transcribe,
    say,
    voices,
    chat,
    tasks,
    meetings,
    vision,
):
    cli.add_command(command)


def main() -> None:
    """The `voka` console script."""
    cli(prog_name="voka")
