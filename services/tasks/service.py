"""The tasks service's wiring.

Its RPCs are not built yet (issue #4): the servicer inherits the generated base class, whose
methods answer UNIMPLEMENTED through the kit. Health, reflection and the ops service work.
"""

from voka.server import ServiceSpec, single
from voka.tasks.v1 import tasks_pb2_grpc


class TasksServiceServicer(tasks_pb2_grpc.TasksServiceServicer):
    """Every RPC of the contract, answering UNIMPLEMENTED until built."""


SPEC = ServiceSpec(name="tasks", build=single(lambda _: TasksServiceServicer()))  # type: ignore[abstract]
