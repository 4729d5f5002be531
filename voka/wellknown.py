"""Conversions between Python times and protobuf's well-known types, shared by every service.

SQLite hands datetimes back without a zone; everything the mesh stores is UTC, so a naive value
is read as UTC (never as the machine's local time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf import duration_pb2, timestamp_pb2


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """Exact to the microsecond, by datetime arithmetic: protobuf's `FromDatetime` goes
    through a time tuple and costs three times as much (hot paths stamp every task)."""
    since = utc(value) - EPOCH
    return timestamp_pb2.Timestamp(
        seconds=since.days * 86400 + since.seconds, nanos=since.microseconds * 1000
    )


def duration(span: float | timedelta) -> duration_pb2.Duration:
    """A Duration from seconds or a timedelta, to the nanosecond."""
    seconds = span.total_seconds() if isinstance(span, timedelta) else span
    value = duration_pb2.Duration()
    value.FromNanoseconds(round(seconds * 1e9))
    return value
