"""`voka translate`."""

from __future__ import annotations

import sys

import click

from voka_client.cli.context import Context, json_option, pass_context
from voka_client.cli.output import as_dict, emit_json


@click.command()
@click.argument("text")
@click.option("--to", "target", required=True, help="Language to translate into (`es`, `en`).")
@click.option("--from", "source", default="", help="Language of the text; detected when not given.")
@json_option
@pass_context
def translate(context: Context, text: str, target: str, source: str) -> None:
    """Translate TEXT (`-`: read it from standard input)."""
    if text == "-":
        text = sys.stdin.read().strip()
    reply = context.client().translate.text(text, target, source)
    if context.json:
        emit_json(as_dict(reply))
    else:
        click.echo(reply.translated_text)
