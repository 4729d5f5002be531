"""Voice samples through gRPC: stored audio with metadata, per-user isolation, quota."""

from __future__ import annotations

import grpc
import pytest
from google.api import httpbody_pb2
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.fixtures.tokens import TokenFactory
from tests.services.speech.conftest import Clip
from tests.services.speech.rpc import violations
from voka.speech.v1 import speech_pb2

pytestmark = pytest.mark.integration


def sample(data: bytes, **fields: object) -> speech_pb2.CreateVoiceSampleRequest:
    return speech_pb2.CreateVoiceSampleRequest(body=httpbody_pb2.HttpBody(data=data), **fields)


async def test_sample_lifecycle_for_its_owner(stub, tokens: TokenFactory, piper_clip: Clip):
    me = tokens.metadata(subject="users/sam")
    created = await stub.CreateVoiceSample(
        sample(piper_clip.wav, file_name="me.wav", description="my voice"), metadata=me
    )
    made = created.voice_sample
    assert made.name.startswith("samples/")
    assert made.owner == "users/sam"
    assert (made.display_name, made.language, made.content_type) == ("me.wav", "en", "audio/wav")
    assert (made.sample_rate_hertz, made.channel_count, made.size_bytes) == (
        22050,
        1,
        len(piper_clip.wav),
    )
    assert made.duration.ToTimedelta().total_seconds() == pytest.approx(
        piper_clip.audio.duration, abs=0.05
    )
    assert (created.quota.sample_count, created.quota.max_sample_count) == (1, 3)
    assert created.quota.used_bytes == len(piper_clip.wav)
    got = await stub.GetVoiceSample(speech_pb2.GetVoiceSampleRequest(name=made.name), metadata=me)
    assert got.voice_sample == made
    download = await stub.DownloadVoiceSample(speech_pb2.DownloadVoiceSampleRequest(name=made.name),
                                              metadata=me)  # fmt: skip
    assert (download.content_type, download.data) == ("audio/wav", piper_clip.wav)
    changed = made.__class__(name=made.name, display_name="Reading", language="en-US")
    updated = await stub.UpdateVoiceSample(
        speech_pb2.UpdateVoiceSampleRequest(voice_sample=changed,
                                   update_mask=field_mask_pb2.FieldMask(paths=["display_name"])),
        metadata=me,
    )  # fmt: skip
    assert (updated.voice_sample.display_name, updated.voice_sample.language) == ("Reading", "en")
    assert updated.voice_sample.description == "my voice"
    await stub.DeleteVoiceSample(speech_pb2.DeleteVoiceSampleRequest(name=made.name), metadata=me)
    listed = await stub.ListVoiceSamples(speech_pb2.ListVoiceSamplesRequest(), metadata=me)
    assert (listed.total_size, listed.quota.sample_count, listed.quota.used_bytes) == (0, 0, 0)


async def test_samples_are_private(stub, tokens: TokenFactory, piper_clip: Clip):
    owner, other = tokens.metadata(subject="users/olga"), tokens.metadata(subject="users/otto")
    made = (await stub.CreateVoiceSample(sample(piper_clip.wav, language="en"),
                                         metadata=owner)).voice_sample  # fmt: skip
    calls = [
        stub.GetVoiceSample(speech_pb2.GetVoiceSampleRequest(name=made.name), metadata=other),
        stub.DownloadVoiceSample(
            speech_pb2.DownloadVoiceSampleRequest(name=made.name), metadata=other
        ),
        stub.DeleteVoiceSample(speech_pb2.DeleteVoiceSampleRequest(name=made.name), metadata=other),
        stub.UpdateVoiceSample(
            speech_pb2.UpdateVoiceSampleRequest(
                voice_sample=speech_pb2.VoiceSample(name=made.name, display_name="mine now")
            ),
            metadata=other,
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    theirs = await stub.ListVoiceSamples(speech_pb2.ListVoiceSamplesRequest(), metadata=other)
    assert theirs.total_size == 0
    admin = tokens.metadata(subject="users/root", roles=("admin",))
    everyone = await stub.ListVoiceSamples(speech_pb2.ListVoiceSamplesRequest(owner="users/olga"),
                                           metadata=admin)  # fmt: skip
    assert [s.name for s in everyone.voice_samples] == [made.name]


async def test_quota_refuses_the_sample_too_many(stub, tokens: TokenFactory, piper_clip: Clip):
    me = tokens.metadata(subject="users/quinn")
    for _ in range(3):
        await stub.CreateVoiceSample(sample(piper_clip.wav, language="en"), metadata=me)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateVoiceSample(sample(piper_clip.wav, language="en"), metadata=me)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(err.value)
    failure = error_details_pb2.QuotaFailure()
    assert status is not None
    assert status.details[0].Unpack(failure)
    assert failure.violations[0].subject == "users/quinn"
    page = await stub.ListVoiceSamples(speech_pb2.ListVoiceSamplesRequest(page_size=2), metadata=me)
    rest = await stub.ListVoiceSamples(
        speech_pb2.ListVoiceSamplesRequest(page_size=2, page_token=page.next_page_token),
        metadata=me,
    )
    assert len(page.voice_samples) + len(rest.voice_samples) == page.total_size == 3
    assert page.quota.sample_count == page.quota.max_sample_count == 3


async def test_bad_samples_are_refused(stub, tokens: TokenFactory, piper_clip: Clip):
    me = tokens.metadata(subject="users/rita")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateVoiceSample(sample(piper_clip.wav, language="english!"), metadata=me)
    assert set(violations(err.value)) == {"language"}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateVoiceSample(sample(b"hello, I am text, named me.wav"), metadata=me)
    assert "unsupported_format" in violations(err.value)["body"]
    made = (await stub.CreateVoiceSample(sample(piper_clip.wav, language="en"),
                                         metadata=me)).voice_sample  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.UpdateVoiceSample(speech_pb2.UpdateVoiceSampleRequest(
            voice_sample=speech_pb2.VoiceSample(name=made.name, owner="users/else"),
            update_mask=field_mask_pb2.FieldMask(paths=["owner", "display_name"])),
        metadata=me)  # fmt: skip
    found = violations(err.value)
    assert set(found) == {"update_mask", "voice_sample.display_name"}
