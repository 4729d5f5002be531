"""Header names that HTTP allows and gRPC metadata does not are refused at the edge with 400,
instead of reaching a service whose gRPC library would fail the call as INTERNAL (found by
tests/fuzz)."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", ["zs3#", "g~", "!", "a'b", "x*y"])
def test_a_header_name_grpc_cannot_carry_is_a_400(rest: httpx.Client, name: str) -> None:
    reply = rest.get("/api/v1/tasks/status", headers={**sign_in(rest), name: "x"})
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["code"] == 3
    assert name in body["message"]


def test_ordinary_headers_pass(rest: httpx.Client) -> None:
    headers = {**sign_in(rest), "x-request-id": "abc-1", "x_custom.v2": "ok"}
    assert rest.get("/api/v1/translate/translations", headers=headers).status_code == 200
