"""The meetings service's wiring.

Its RPCs are not built yet (no issue yet): the servicer inherits the generated base class, whose
methods answer UNIMPLEMENTED through the kit. Health, reflection and the ops service work.
"""

from voka.meetings.v1 import meetings_pb2_grpc
from voka.server import ServiceSpec, single


class MeetingsServiceServicer(meetings_pb2_grpc.MeetingsServiceServicer):
    """Every RPC of the contract, answering UNIMPLEMENTED until built."""


SPEC = ServiceSpec(name="meetings", build=single(lambda _: MeetingsServiceServicer()))  # type: ignore[abstract]
