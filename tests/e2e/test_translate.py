"""The translate service through Envoy's REST mapping, as `make up` runs it: no Marian model
installed, so en→es is Apertium out of the box."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.integration


def test_translate_en_es_out_of_the_box(rest: httpx.Client):
    headers = sign_in(rest)
    reply = rest.post(
        "/api/v1/translate",
        json={
            "text": "Hello, how are you?",
            "sourceLanguageCode": "en",
            "targetLanguageCode": "es",
        },
        headers=headers,
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["translatedText"].startswith("Hola")
    assert body["engine"] == "ENGINE_APERTIUM"
    history = rest.get("/api/v1/translate/history", headers=headers, timeout=10)
    assert [t["name"] for t in history.json()["translations"]] == [body["translation"]]
    other = rest.get(
        "/api/v1/translate/history",
        headers=sign_in(rest),
        timeout=10,
    )
    assert other.json().get("translations", []) == []
    stats = rest.get("/api/v1/translate/stats", headers=headers, timeout=10)
    assert stats.json()["stats"]["requestCount"] == "1"


def test_languages_are_public_and_name_the_engine(rest: httpx.Client):
    reply = rest.get("/api/v1/translate/languages", timeout=10)
    assert reply.status_code == 200
    spanish = next(x for x in reply.json()["languages"] if x["languageCode"] == "es")
    assert spanish["installedAsTarget"] is True
    pairs = rest.get(
        "/api/v1/translate/language-pairs",
        params={"source_language_code": "en", "target_language_code": "es"},
        timeout=10,
    ).json()["languagePairs"]
    assert pairs[0]["engine"] == "ENGINE_APERTIUM"


def test_bad_language_is_400_naming_the_field(rest: httpx.Client):
    reply = rest.post(
        "/api/v1/translate",
        json={"text": "Hello", "targetLanguageCode": "xx"},
        headers=sign_in(rest),
        timeout=10,
    )
    assert reply.status_code == 400
    fields = [v["field"] for d in reply.json()["details"] for v in d.get("fieldViolations", [])]
    assert fields == ["target_language_code"]


def test_an_unsupported_pair_is_invalid_argument(rest: httpx.Client):
    reply = rest.post(
        "/api/v1/translate",
        json={"text": "Hola", "sourceLanguageCode": "es", "targetLanguageCode": "ru"},
        headers=sign_in(rest),
        timeout=10,
    )
    assert reply.status_code == 400  # INVALID_ARGUMENT: the language itself is what is wrong
    assert reply.json()["code"] == 3
    assert "models pull es-ru" in reply.json()["message"]


def test_stream_answers_arrive_as_sse(rest: httpx.Client):
    segments = [
        {
            "segmentId": "1",
            "text": "Good morning.",
            "sourceLanguageCode": "en",
            "targetLanguageCode": "es",
        },
        {"segmentId": "2", "text": "Thank you."},
    ]
    with rest.stream(
        "POST",
        "/api/v1/translate:streamTranslate",
        content=json.dumps(segments),
        headers=sign_in(rest),
        timeout=30,
    ) as reply:
        assert reply.status_code == 200
        events = [json.loads(line[5:]) for line in reply.iter_lines() if line.startswith("data:")]
    assert {e["segmentId"] for e in events} == {"1", "2"}
    assert all(e["translation"]["engine"] == "ENGINE_APERTIUM" for e in events)
