"""LibreTranslate's request bodies (JSON, form-urlencoded, multipart), its checks and messages,
HTML through plain-text translation, and its JSON answers."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import grpc
import httpx
import pytest
from google.api import httpbody_pb2

from services.translate.libretranslate import forms, markup, parsing, shapes
from voka import errors


def body(content_type: str, data: bytes) -> httpbody_pb2.HttpBody:
    return httpbody_pb2.HttpBody(content_type=content_type, data=data)


def refused(call: pytest.ExceptionInfo[errors.VokaError]) -> str:
    assert call.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return call.value.message


# --- bodies ---------------------------------------------------------------------------------


def test_json_body_keeps_arrays_and_line_endings():
    fields, is_json = forms.fields(
        body("application/json; charset=utf-8", json.dumps({"q": ["a\r\nb"]}).encode())
    )
    assert is_json
    assert fields == {"q": ["a\r\nb"]}


def test_form_body_as_libretranslatepy_posts_it():
    data = urlencode({"q": "¿Qué tal?", "source": "es", "api_key": "vk_x"}).encode()
    fields, is_json = forms.fields(body("application/x-www-form-urlencoded", data))
    assert not is_json
    assert fields == {"q": "¿Qué tal?", "source": "es", "api_key": "vk_x"}


def test_form_field_given_twice_counts_its_first_value():
    fields, _ = forms.fields(body("application/x-www-form-urlencoded", b"q=one&q=two"))
    assert fields["q"] == "one"


def test_multipart_body_text_fields_only():
    request = httpx.Request(
        "POST",
        "http://x/translate",
        files={"q": (None, "Hola"), "target": (None, "en"), "file": ("a.txt", b"ignored")},
    )
    fields, _ = forms.fields(body(request.headers["content-type"], request.read()))
    assert fields == {"q": "Hola", "target": "en"}


def test_other_content_types_carry_no_fields():
    assert forms.fields(body("text/plain", b"q=hello")) == ({}, False)


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b"\xff"])
def test_bad_json_is_libretranslates_message(data: bytes):
    with pytest.raises(errors.VokaError) as call:
        forms.fields(body("application/json", data))
    assert refused(call) == "Invalid JSON format"


# --- checks ---------------------------------------------------------------------------------


def ask(**fields: object) -> parsing.TranslateAsk:
    return parsing.translate_ask({"source": "en", "target": "es", **fields}, is_json=True)


def test_a_string_q():
    checked = ask(q="Hello", source="EN")
    assert checked == parsing.TranslateAsk(["Hello"], False, "en", "es", "text", 0)


def test_an_array_q_and_auto():
    checked = ask(q=["Hello", "Bye"], source="auto", alternatives="2", format="html")
    assert (checked.texts, checked.batch, checked.source) == (["Hello", "Bye"], True, "auto")
    assert (checked.alternatives, checked.format) == (2, "html")


def test_form_text_gets_unix_line_endings():
    checked = parsing.translate_ask({"q": "a\r\nb", "source": "en", "target": "es"}, False)
    assert checked.texts == ["a\nb"]


def test_aliases_of_libretranslate_codes():
    assert ask(q="x", target="zh-Hans").target == "zh"
    assert ask(q="x", target="pb").target == "pt"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"q": ""}, "Invalid request: missing q parameter"),
        ({"q": "x", "source": None}, "Invalid request: missing source parameter"),
        ({"q": "x", "target": ""}, "Invalid request: missing target parameter"),
        ({"q": [1]}, parsing.NOT_TEXTS),
        (
            {"q": "x", "alternatives": "many"},
            "Invalid request: alternatives parameter is not a number",
        ),
        ({"q": "x", "alternatives": 4}, "Invalid request: alternatives parameter must be <= 3"),
        ({"q": "x" * 5001}, "Invalid request: request (5001) exceeds text limit (5000)"),
        ({"q": ["x"] * 129}, "Invalid request: request (129) exceeds text limit (128)"),
        ({"q": "x", "source": "xx"}, "xx is not supported"),
        ({"q": "x", "target": "auto"}, "auto is not supported"),
        ({"q": "x", "format": "markdown"}, "markdown format is not supported"),
    ],
)
def test_refusals_are_libretranslates(fields: dict[str, object], message: str):
    with pytest.raises(errors.VokaError) as call:
        ask(**fields)
    assert refused(call) == message


def test_detect_pools_an_array():
    assert parsing.detect_text({"q": ["Hola", "amigo"]}) == "Hola\namigo"


def test_api_key_is_optional():
    assert parsing.api_key({"api_key": " vk_x "}) == "vk_x"
    assert parsing.api_key({}) == ""


# --- html -----------------------------------------------------------------------------------


def test_html_text_nodes_are_translated_and_the_markup_kept():
    html = (
        '<!DOCTYPE html><p class="a">Hello <b>world</b> &amp; you</p>'
        "<script>var s = '<b>';</script><!-- note --> <br/>"
    )
    document = markup.parse(html)
    assert document.texts == ["Hello", "world", "& you"]
    joined = document.join(["Hola", "mundo", "& tú"])
    assert joined == (
        '<!DOCTYPE html><p class="a">Hola <b>mundo</b> &amp; tú</p>'
        "<script>var s = '<b>';</script><!-- note --> <br/>"
    )


def test_html_without_text():
    assert markup.parse("<br/>").texts == []


# --- answers --------------------------------------------------------------------------------


def decoded(reply: httpbody_pb2.HttpBody) -> object:
    assert reply.content_type == "application/json"
    return json.loads(reply.data)


def test_a_single_answer_with_detection_and_alternatives():
    checked = ask(q="Hello", source="auto", alternatives=1)
    found = shapes.Result("Hola", shapes.Detection("en", 0.934))
    assert decoded(shapes.translated(checked, [found])) == {
        "translatedText": "Hola",
        "detectedLanguage": {"confidence": 93.0, "language": "en"},
        "alternatives": [],
    }


def test_an_array_answer_without_detection():
    checked = ask(q=["a", "b"])
    results = [shapes.Result("A", None), shapes.Result("B", None)]
    assert decoded(shapes.translated(checked, results)) == {"translatedText": ["A", "B"]}


def test_languages_and_detections():
    entries = [shapes.LanguageEntry("en", "English", ["es"])]
    assert decoded(shapes.languages(entries)) == [
        {"code": "en", "name": "English", "targets": ["es"]}
    ]
    assert decoded(shapes.detections([shapes.Detection("es", 1.0)])) == [
        {"confidence": 100.0, "language": "es"}
    ]
