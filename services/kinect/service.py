"""The kinect service's wiring.

Its RPCs are not built yet (no issue yet): the servicer inherits the generated base class, whose
methods answer UNIMPLEMENTED through the kit. Health, reflection and the ops service work.
"""

from voka.kinect.v1 import kinect_pb2_grpc
from voka.server import ServiceSpec, single


class KinectServiceServicer(kinect_pb2_grpc.KinectServiceServicer):
    """Every RPC of the contract, answering UNIMPLEMENTED until built."""


SPEC = ServiceSpec(name="kinect", build=single(lambda _: KinectServiceServicer()))  # type: ignore[abstract]
