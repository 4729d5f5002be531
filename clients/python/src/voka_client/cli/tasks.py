"""`voka tasks submit|watch|list`."""

from __future__ import annotations

import json
from itertools import islice
from typing import Any

import click

from voka.tasks.v1 import tasks_pb2
from voka_client.cli.context import Context, json_option, pass_context
from voka_client.cli.output import as_dict, emit_json

PRIORITIES = {"critical", "high", "normal", "low", "background"}


def _argument(pair: str) -> tuple[str, Any]:
    """`key=value`; the value is JSON when it parses as JSON (`a=2` is a number), else text."""
    key, separator, text = pair.partition("=")
    if not separator or not key:
        raise click.BadParameter(f"{pair!r} is not key=value", param_hint="--arg")
    try:
        return key, json.loads(text)
    except ValueError:
        return key, text


def _state(task: tasks_pb2.Task) -> str:
    return tasks_pb2.TaskState.Name(task.state).removeprefix("TASK_STATE_")


def _show(context: Context, task: tasks_pb2.Task) -> None:
    if context.json:
        emit_json(as_dict(task))
        return
    line = f"{task.name}\t{task.function_name}\t{_state(task)}"
    if task.HasField("result"):
        line += "\t" + json.dumps(as_dict(task)["result"], ensure_ascii=False)
    elif task.last_error.message:
        line += f"\t{task.last_error.type}: {task.last_error.message}"
    click.echo(line)


@click.group()
def tasks() -> None:
    """Submit, watch and list tasks."""


@tasks.command()
@click.argument("function_name")
@click.option("--arg", "pairs", multiple=True, help="An argument, key=value (repeatable).")
@click.option("--args", "args_json", help="All arguments as one JSON object.")
@click.option("--priority", type=click.Choice(sorted(PRIORITIES)), help="Default: normal.")
@click.option("--idempotency-key", default="", help="Submitting twice queues it once.")
@click.option("--wait", is_flag=True, help="Follow the task to its end and show its result.")
@json_option
@pass_context
def submit(
    context: Context,
    *,
    function_name: str,
    pairs: tuple[str, ...],
    args_json: str | None,
    priority: str | None,
    idempotency_key: str,
    wait: bool,
) -> None:
    """Queue FUNCTION_NAME with arguments."""
    args: dict[str, Any] = {}
    if args_json:
        try:
            args = dict(json.loads(args_json))
        except (ValueError, TypeError) as error:
            raise click.BadParameter(f"not a JSON object: {error}", param_hint="--args") from error
    args.update(_argument(pair) for pair in pairs)
    level = tasks_pb2.PRIORITY_UNSPECIFIED
    if priority:
        level = tasks_pb2.Priority.Value(f"PRIORITY_{priority.upper()}")
    client = context.client()
    submitted = client.tasks.submit(
        function_name, args, priority=level, idempotency_key=idempotency_key
    )
    if wait:
        _show(context, client.tasks.wait(submitted.name))
    elif context.json:
        emit_json(as_dict(submitted))
    else:
        click.echo(f"{submitted.name}\t{tasks_pb2.TaskState.Name(submitted.state)}")


@tasks.command()
@click.argument("name")
@json_option
@pass_context
def watch(context: Context, name: str) -> None:
    """Follow task NAME (`tasks/...`), one line per change, until it ends."""
    for task in context.client().tasks.watch(name):
        _show(context, task)


@tasks.command(name="list")
@click.option("--function", "function_name", default="", help="Only tasks of this function.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
@pass_context
def list_tasks(context: Context, function_name: str, limit: int) -> None:
    """Your tasks, newest first."""
    for task in islice(context.client().tasks.iter_tasks(function_name), limit):
        _show(context, task)
