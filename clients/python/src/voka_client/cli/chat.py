"""`voka chat`."""

from __future__ import annotations

import sys

import click

from voka_client.cli.context import Context, json_option, pass_context
from voka_client.cli.output import as_dict, emit_json


@click.command()
@click.argument("message", required=False)
@click.option(
    "--conversation", default="", help="Continue `conversations/...`; default: a new one."
)
@click.option("--model", default="", help="The model, `provider/model`; default: the service's.")
@click.option("--max-tokens", type=click.IntRange(min=0), default=0, help="Longest reply.")
@json_option
@pass_context
def chat(
    context: Context, message: str | None, conversation: str, model: str, max_tokens: int
) -> None:
    """Talk to the assistant; the reply streams as it is written. With MESSAGE, one turn;
    without, one turn per line of standard input, all in one conversation."""
    assistant = context.client().assistant
    lines = [message] if message is not None else (line.strip() for line in sys.stdin)
    for line in lines:
        if not line:
            continue
        reply = assistant.stream_reply(
            line, conversation=conversation, model=model, max_output_tokens=max_tokens
        )
        if context.json:
            text = reply.text()
            done = as_dict(reply.completed) if reply.completed is not None else {"text": text}
            emit_json({"conversation": reply.conversation, **done})
        else:
            for delta in reply:
                click.echo(delta, nl=False)
            click.echo()
        conversation = reply.conversation
