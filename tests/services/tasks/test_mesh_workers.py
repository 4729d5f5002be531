"""`make up` (tools/mesh.py) runs a worker for every worker type: the tasks service embeds
the pools of its default `VOKA_TASKS_EMBEDDED_WORKERS` and a supervisor keeps one worker
process for each of the others, so no pool is left without a worker and SubmitDemoTasks'
default mix finishes."""

from __future__ import annotations

import itertools

from services.tasks.events import parse_worker_type
from services.tasks.settings import TasksSettings
from tools import mesh
from voka.tasks.v1 import tasks_pb2


def test_make_up_runs_a_worker_for_every_worker_type():
    command = mesh.task_supervisor_command()
    assert command[1:3] == ["-m", "services.tasks.supervisor"]
    supervised = {parse_worker_type(v) for k, v in itertools.pairwise(command) if k == "--type"}
    default = TasksSettings(service="tasks").tasks_embedded_workers
    embedded = {parse_worker_type(t) for t in default}
    every = set(tasks_pb2.WorkerType.values()) - {tasks_pb2.WORKER_TYPE_UNSPECIFIED}
    assert supervised | embedded == every
    assert not supervised & embedded  # one worker per pool, not two
