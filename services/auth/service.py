"""The auth service's wiring.

Its RPCs are not built yet (issue #3): the servicer inherits the generated base class, whose
methods answer UNIMPLEMENTED through the kit. Health, reflection and the ops service work.
"""

from voka.auth.v1 import auth_pb2_grpc
from voka.server import ServiceSpec, single


class AuthServiceServicer(auth_pb2_grpc.AuthServiceServicer):
    """Every RPC of the contract, answering UNIMPLEMENTED until built."""


SPEC = ServiceSpec(name="auth", build=single(lambda _: AuthServiceServicer()))  # type: ignore[abstract]
