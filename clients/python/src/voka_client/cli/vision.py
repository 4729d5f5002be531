"""`voka vision analyze`, `voka vision hands` and `voka vision list`."""

from __future__ import annotations

import mimetypes
from itertools import islice
from pathlib import Path

import click

from voka.vision.v1 import vision_pb2
from voka_client.cli.context import Context, json_option, pass_context
from voka_client.cli.output import as_dict, emit_json
from voka_client.vision import UNDECLARED

IMAGE = click.Path(exists=True, dir_okay=False, path_type=Path)
SERVICE_DEFAULT = "0: the service's default."


def _content_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or UNDECLARED


def _show(context: Context, analysis: vision_pb2.Analysis) -> None:
    """The analysis as JSON, or a line per finding for people."""
    if context.json:
        emit_json(as_dict(analysis))
        return
    click.echo(analysis.name)
    if analysis.caption.text:
        click.echo(f"caption\t{analysis.caption.text}\t({analysis.caption.engine})")
    for found in analysis.objects:
        click.echo(f"object\t{found.label}\t{found.score:.2f}")
    for label in analysis.labels:
        click.echo(f"label\t{label.label}\t{label.score:.2f}")
    for hand in analysis.hands:
        gesture = hand.gesture or "-"
        click.echo(f"hand\t{hand.handedness}\t{gesture}\t{len(hand.landmarks)} landmarks")


@click.group()
def vision() -> None:
    """Images analysed: objects, labels, captions and hands."""


@vision.command()
@click.argument("file", type=IMAGE)
@click.option("--max-results", type=click.IntRange(min=0), default=0, help=SERVICE_DEFAULT)
@click.option("--min-score", type=click.FloatRange(0, 1), default=0.0, help=SERVICE_DEFAULT)
@json_option
@pass_context
def analyze(context: Context, *, file: Path, max_results: int, min_score: float) -> None:
    """Objects, labels and a caption of an image FILE (PNG, JPEG or WebP)."""
    analysis = context.client().vision.analyze_image(
        file.read_bytes(),
        content_type=_content_type(file),
        max_results=max_results,
        min_score=min_score,
    )
    _show(context, analysis)


@vision.command()
@click.argument("file", type=IMAGE)
@json_option
@pass_context
def hands(context: Context, *, file: Path) -> None:
    """The hands in an image FILE: handedness, gesture and landmarks."""
    analysis = context.client().vision.detect_hands(
        file.read_bytes(), content_type=_content_type(file)
    )
    _show(context, analysis)


@vision.command(name="list")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
@pass_context
def list_analyses(context: Context, limit: int) -> None:
    """Your analyses, newest first."""
    for analysis in islice(context.client().vision.iter_analyses(), limit):
        if context.json:
            emit_json(as_dict(analysis))
        else:
            created = analysis.create_time.ToDatetime().isoformat(timespec="seconds")
            kind = vision_pb2.AnalysisKind.Name(analysis.kind).removeprefix("ANALYSIS_KIND_")
            click.echo(f"{analysis.name}\t{created}Z\t{kind}\t{analysis.caption.text}")
