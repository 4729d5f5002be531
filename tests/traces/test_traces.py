"""One trace from the edge to the worker: a REST call through Envoy enqueues a task, and the
spans of Envoy, of the tasks service that accepted it and of the worker that ran it, all exported
over OTLP to a real receiver, share one trace id (Envoy's span the root)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.conftest import sign_in
from tests.traces.otlp import ReceivedSpan, Receiver

pytestmark = pytest.mark.integration
SUBMIT = "voka.tasks.v1.TasksService/SubmitTask"
EDGE = "voka-gateway"
WAIT = 30.0


def _run_task(rest: httpx.Client) -> str:
    """Submit a task over REST and wait until it SUCCEEDED; answers its name."""
    headers = sign_in(rest)
    submitted = rest.post(
        "/api/v1/tasks", json={"functionName": "math.add", "args": {"a": 2, "b": 3}},
        headers=headers,
    )  # fmt: skip
    assert submitted.status_code == 200, submitted.text
    name = str(submitted.json()["name"])
    deadline = time.monotonic() + WAIT
    while (state := rest.get(f"/api/v1/{name}", headers=headers).json()["task"]["state"]) not in (
        "TASK_STATE_SUCCEEDED", "TASK_STATE_FAILED", "TASK_STATE_DEAD_LETTERED",
    ):  # fmt: skip
        assert time.monotonic() < deadline, f"{name} still {state}"
        time.sleep(0.1)
    assert state == "TASK_STATE_SUCCEEDED"
    return name


def _submits(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    return [s for s in spans if s.name == SUBMIT and s.service == "voka-tasks"]


@pytest.fixture(scope="module")
def task(traced_rest: httpx.Client) -> str:
    return _run_task(traced_rest)


def test_the_rest_call_and_the_service_span_share_envoys_trace(task: str, receiver: Receiver):
    spans = receiver.wait_for(
        lambda got: any(
            s.service == EDGE and s.trace_id in {t.trace_id for t in _submits(got)} for s in got
        ),
        timeout=WAIT,
    )
    (submit,) = _submits(spans)
    edge = [s for s in spans if s.service == EDGE and s.trace_id == submit.trace_id]
    (root,) = [s for s in edge if not s.parent_id]
    assert root.kind == "SPAN_KIND_SERVER"
    assert submit.parent_id in {s.span_id for s in edge}, "the service's span is Envoy's child"
    assert submit.kind == "SPAN_KIND_SERVER"


def test_the_worker_that_ran_the_task_continues_the_same_trace(task: str, receiver: Receiver):
    spans = receiver.wait_for(lambda got: bool(_submits(got)), timeout=WAIT)
    (submit,) = _submits(spans)
    ran = receiver.wait_for(
        lambda got: any(s.attributes.get("voka.task.name") == task for s in got), timeout=10
    )
    worker = [s for s in ran if s.attributes.get("voka.task.name") == task]
    assert {s.trace_id for s in worker} == {submit.trace_id}
