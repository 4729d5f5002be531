"""Text entries through gRPC: a Piper recording of a known sentence transcribed by the real
tiny.en model and measured against its text; paging, search, tenancy, deletion, bounds."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.api import httpbody_pb2

from services.speech.text_entries.wer import word_errors, words
from tests.fixtures.tokens import TokenFactory
from tests.services.speech.conftest import Clip
from tests.services.speech.rpc import violations
from voka.server import Running
from voka.speech.v1 import speech_pb2

pytestmark = pytest.mark.integration

UNRELATED = "Seven green bottles were standing on the old wooden wall."


def entry(data: bytes, text: str, **fields: object) -> speech_pb2.CreateTextEntryRequest:
    return speech_pb2.CreateTextEntryRequest(
        body=httpbody_pb2.HttpBody(data=data), original_text=text, **fields
    )


def stored_audio(service: Running) -> list[Path]:
    """The text-entry audio files under the service's data directory."""
    return sorted((service.resources.settings.data_dir / "speech" / "text-entries").glob("*"))


def test_word_errors_normalise_case_and_punctuation():
    assert words("It's NINE o'clock, 'sharp'!") == ["it's", "nine", "o'clock", "sharp"]
    same = word_errors("The cat sat on the mat.", "the cat  sat on the MAT")
    assert (same.rate, same.reference_words) == (0.0, 6)
    edited = word_errors("the cat sat on the mat", "a cat sat on mat")
    assert (edited.substitutions, edited.deletions, edited.insertions) == (1, 1, 0)
    assert edited.rate == pytest.approx(2 / 6)
    assert word_errors("the cat sat", "the black cat sat").insertions == 1
    assert word_errors("two words", "").rate == 1.0  # nothing heard: every word deleted


async def test_entry_is_transcribed_and_measured(stub, tokens: TokenFactory, piper_clip: Clip):
    me = tokens.metadata(subject="users/tess")
    request = entry(piper_clip.wav, piper_clip.text, language="en", file_name="report.wav")
    made = (await stub.CreateTextEntry(request, metadata=me)).text_entry
    assert made.name.startswith("text-entries/")
    assert (made.owner, made.language, made.model) == ("users/tess", "en", "tiny.en")
    assert (made.original_text, made.file_name, made.content_type) == (
        piper_clip.text, "report.wav", "audio/wav",
    )  # fmt: skip
    assert made.word_error_rate <= 0.1, made.transcript
    assert "quarterly" in made.transcript.lower()
    assert made.word_errors.reference_words == len(words(piper_clip.text)) == 11
    assert made.size_bytes == len(piper_clip.wav)
    assert made.audio_duration.ToTimedelta().total_seconds() == pytest.approx(
        piper_clip.audio.duration, abs=0.05
    )
    got = await stub.GetTextEntry(speech_pb2.GetTextEntryRequest(name=made.name), metadata=me)
    assert got.text_entry == made


async def test_a_different_text_scores_high(stub, tokens: TokenFactory, piper_clip: Clip):
    me = tokens.metadata(subject="users/ulla")
    request = entry(piper_clip.wav, UNRELATED)  # language detected
    made = (await stub.CreateTextEntry(request, metadata=me)).text_entry
    assert made.language == "en"
    assert made.word_error_rate >= 0.8, made.transcript
    errors = made.word_errors
    rate = (errors.substitutions + errors.deletions + errors.insertions) / errors.reference_words
    assert made.word_error_rate == pytest.approx(rate)


async def test_list_pages_and_searches_text_and_transcript(
    stub, tokens: TokenFactory, piper_clip: Clip, piper_clip_2: Clip
):
    me = tokens.metadata(subject="users/vera")
    first = await stub.CreateTextEntry(entry(piper_clip.wav, piper_clip.text), metadata=me)
    await stub.CreateTextEntry(entry(piper_clip_2.wav, piper_clip_2.text), metadata=me)
    third = await stub.CreateTextEntry(entry(piper_clip.wav, UNRELATED), metadata=me)
    page = await stub.ListTextEntries(speech_pb2.ListTextEntriesRequest(page_size=2), metadata=me)
    rest = await stub.ListTextEntries(
        speech_pb2.ListTextEntriesRequest(page_size=2, page_token=page.next_page_token),
        metadata=me,
    )
    assert (page.total_size, len(page.text_entries), len(rest.text_entries)) == (3, 2, 1)
    assert page.text_entries[0].name == third.text_entry.name  # newest first
    assert rest.text_entries[0].name == first.text_entry.name
    assert not rest.next_page_token

    async def found(query: str) -> set[str]:
        listing = await stub.ListTextEntries(
            speech_pb2.ListTextEntriesRequest(query=query), metadata=me
        )
        assert listing.total_size == len(listing.text_entries)
        return {e.name for e in listing.text_entries}

    # "bottles" is only in a text; "QUARTERLY" is in the first's text and, heard, in the
    # transcript of the third, whose text never says it.
    assert await found("bottles") == {third.text_entry.name}
    assert await found("QUARTERLY") == {first.text_entry.name, third.text_entry.name}
    assert await found("100%") == set()  # a LIKE wildcard is a plain character
    with pytest.raises(grpc.aio.AioRpcError) as err:  # a token only continues its own query
        await stub.ListTextEntries(
            speech_pb2.ListTextEntriesRequest(query="x", page_token=page.next_page_token),
            metadata=me,
        )
    assert set(violations(err.value)) == {"page_token"}


async def test_entries_are_private_and_deletion_removes_the_audio(
    stub, service: Running, tokens: TokenFactory, piper_clip: Clip
):
    owner, other = tokens.metadata(subject="users/wim"), tokens.metadata(subject="users/xena")
    before = stored_audio(service)
    made = (await stub.CreateTextEntry(entry(piper_clip.wav, piper_clip.text),
                                       metadata=owner)).text_entry  # fmt: skip
    assert len(stored_audio(service)) == len(before) + 1
    for call in (
        stub.GetTextEntry(speech_pb2.GetTextEntryRequest(name=made.name), metadata=other),
        stub.DeleteTextEntry(speech_pb2.DeleteTextEntryRequest(name=made.name), metadata=other),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    theirs = await stub.ListTextEntries(speech_pb2.ListTextEntriesRequest(), metadata=other)
    assert theirs.total_size == 0
    sneaky = speech_pb2.ListTextEntriesRequest(owner="users/wim")  # not an admin: own only
    assert (await stub.ListTextEntries(sneaky, metadata=other)).total_size == 0
    admin = tokens.metadata(subject="users/root", roles=("admin",))
    seen = await stub.ListTextEntries(sneaky, metadata=admin)
    assert [e.name for e in seen.text_entries] == [made.name]
    await stub.DeleteTextEntry(speech_pb2.DeleteTextEntryRequest(name=made.name), metadata=owner)
    assert stored_audio(service) == before
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetTextEntry(speech_pb2.GetTextEntryRequest(name=made.name), metadata=owner)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListTextEntries(speech_pb2.ListTextEntriesRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"original_text": ""}, "original_text", "at least one word"),
        ({"original_text": "?! …"}, "original_text", "at least one word"),
        ({"original_text": "word " * 1001}, "original_text", "at most 5000"),
        ({"language": "english"}, "language", "ISO 639-1"),
        ({"model": "../tiny"}, "model", "model id"),
        ({"file_name": "x" * 256}, "file_name", "at most 255"),
    ],
)
async def test_bad_entries_are_refused(
    stub, tokens: TokenFactory, piper_clip: Clip, fields: dict[str, str], field: str, says: str
):
    me = tokens.metadata(subject="users/yann")
    request = entry(piper_clip.wav, piper_clip.text)
    for key, value in fields.items():
        setattr(request, key, value)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateTextEntry(request, metadata=me)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert says in violations(err.value)[field]


async def test_bad_audio_names_and_queries_are_refused(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/zoe")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateTextEntry(entry(b"plain text, not audio", "hello"), metadata=me)
    assert "unsupported_format" in violations(err.value)["body"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetTextEntry(speech_pb2.GetTextEntryRequest(name="samples/abc"), metadata=me)
    assert "text-entries/{id}" in violations(err.value)["name"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListTextEntries(
            speech_pb2.ListTextEntriesRequest(query="q" * 201, language="xx-yy!", page_size=-1),
            metadata=me,
        )
    assert set(violations(err.value)) == {"query", "language", "page_size"}
