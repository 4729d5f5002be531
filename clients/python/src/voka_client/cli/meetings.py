"""`voka meetings list`."""

from __future__ import annotations

from itertools import islice

import click

from voka_client.cli.context import Context, json_option, pass_context
from voka_client.cli.output import as_dict, emit_json


@click.group()
def meetings() -> None:
    """Meetings you organise or attend."""


@meetings.command(name="list")
@click.option("--project", default="", help="Only this project's, `projects/...`.")
@click.option("--client", default="", help="Only this client's projects', `clients/...`.")
@click.option("--newest-first", is_flag=True, help="Latest start first.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
@pass_context
def list_meetings(
    context: Context, project: str, client: str, newest_first: bool, limit: int
) -> None:
    """List meetings by start time."""
    found = context.client().meetings.iter_meetings(
        project=project, client=client, newest_first=newest_first
    )
    for meeting in islice(found, limit):
        if context.json:
            emit_json(as_dict(meeting))
        else:
            start = meeting.start_time.ToDatetime().isoformat(timespec="minutes")
            click.echo(f"{meeting.name}\t{start}Z\t{meeting.title}")
