"""The speech service's wiring.

Its RPCs are not built yet (issue #7): the servicer inherits the generated base class, whose
methods answer UNIMPLEMENTED through the kit. Health, reflection and the ops service work.
"""

from voka.server import ServiceSpec, single
from voka.speech.v1 import speech_pb2_grpc


class SpeechServiceServicer(speech_pb2_grpc.SpeechServiceServicer):
    """Every RPC of the contract, answering UNIMPLEMENTED until built."""


SPEC = ServiceSpec(name="speech", build=single(lambda _: SpeechServiceServicer()))  # type: ignore[abstract]
