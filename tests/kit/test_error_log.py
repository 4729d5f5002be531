"""The process's recent ERROR records (voka/error_log.py): bounded, newest first, each cut to a
size, with the trace being served when it was logged."""

from __future__ import annotations

import logging

from voka import telemetry
from voka.error_log import MAX_EXCEPTION, MAX_MESSAGE, RecentErrors


def _logger(handler: RecentErrors) -> logging.Logger:
    logger = logging.getLogger(f"voka.test.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return logger


def test_only_errors_are_kept_newest_first_up_to_the_capacity():
    recent = RecentErrors(capacity=3)
    log = _logger(recent)
    log.warning("not an error")
    for number in range(5):
        log.error("failure %d", number)
    log.critical("worse")
    entries = recent.entries()
    assert [e.message for e in entries] == ["worse", "failure 4", "failure 3"]
    assert [e.level for e in entries] == ["CRITICAL", "ERROR", "ERROR"]
    assert entries[1].logger == log.name
    assert entries[1].time.seconds > 0


def test_messages_and_tracebacks_are_cut_to_size():
    recent = RecentErrors()
    log = _logger(recent)
    try:
        raise RuntimeError("x" * (2 * MAX_EXCEPTION))
    except RuntimeError:
        log.exception("y" * (2 * MAX_MESSAGE))
    (entry,) = recent.entries()
    assert len(entry.message) == MAX_MESSAGE
    assert len(entry.exception) == MAX_EXCEPTION
    assert entry.exception.startswith("x")  # the end of the traceback: what failed
    assert entry.exception.endswith("x" * 100)


def test_an_error_within_a_request_names_its_trace():
    recent = RecentErrors()
    log = _logger(recent)
    tracer = telemetry.tracer_provider("test", "dev").get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        log.error("inside")
    log.error("outside")
    outside, inside = recent.entries()
    assert inside.trace_id == format(span.get_span_context().trace_id, "032x")
    assert outside.trace_id == ""
