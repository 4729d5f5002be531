"""`voka login`, `voka logout`, `voka whoami`."""

from __future__ import annotations

import click

from voka_client.cli import config
from voka_client.cli.context import Context, json_option, pass_context
from voka_client.cli.output import as_dict, emit_json


@click.command()
@click.option("--username", "-u", prompt=True, help="Username or e-mail address.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    envvar="VOKA_PASSWORD",
    help="Password (prompted for when not given; also $VOKA_PASSWORD).",
)
@json_option
@pass_context
def login(context: Context, username: str, password: str) -> None:
    """Log in and keep the session (access and refresh tokens, never the password) in the
    config file, readable by you alone. Later commands refresh it as needed."""
    client = context.client()
    tokens = client.login(username, password)
    path = config.save(config.Saved(context.url, username, tokens))
    user = client.whoami()
    if context.json:
        emit_json({"user": as_dict(user), "session": tokens.session, "configFile": str(path)})
    else:
        click.echo(f"Logged in to {context.url} as {user.username} ({user.name}).")


@click.command()
@click.option("--all-sessions", is_flag=True, help="End every session of the account.")
@json_option
@pass_context
def logout(context: Context, all_sessions: bool) -> None:
    """End the saved session at the server and forget it here."""
    saved = config.load()
    if saved is None:
        raise click.ClickException("not logged in")
    ended = context.client().logout(all_sessions=all_sessions)
    config.forget()
    if context.json:
        emit_json({"revokedSessionCount": ended})
    else:
        click.echo(f"Logged out ({ended} session{'s' if ended != 1 else ''} ended).")


@click.command()
@json_option
@pass_context
def whoami(context: Context) -> None:
    """Show the account the commands run as."""
    user = context.client().whoami()
    if context.json:
        emit_json(as_dict(user))
    else:
        click.echo(f"{user.username} ({user.name})")
