"""The translate service's wiring.

Its RPCs are not built yet (issue #6): the servicer inherits the generated base class, whose
methods answer UNIMPLEMENTED through the kit. Health, reflection and the ops service work.
"""

from voka.server import ServiceSpec, single
from voka.translate.v1 import translate_pb2_grpc


class TranslateServiceServicer(translate_pb2_grpc.TranslateServiceServicer):
    """Every RPC of the contract, answering UNIMPLEMENTED until built."""


SPEC = ServiceSpec(name="translate", build=single(lambda _: TranslateServiceServicer()))  # type: ignore[abstract]
