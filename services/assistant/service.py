"""The assistant service's wiring.

Its RPCs are not built yet (issue #5): the servicer inherits the generated base class, whose
methods answer UNIMPLEMENTED through the kit. Health, reflection and the ops service work.
"""

from voka.assistant.v1 import assistant_pb2_grpc
from voka.server import ServiceSpec, single


class AssistantServiceServicer(assistant_pb2_grpc.AssistantServiceServicer):
    """Every RPC of the contract, answering UNIMPLEMENTED until built."""


SPEC = ServiceSpec(name="assistant", build=single(lambda _: AssistantServiceServicer()))  # type: ignore[abstract]
