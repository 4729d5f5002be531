"""Schemathesis over the whole OpenAPI document, through Envoy, as an admin: every operation
gets generated requests, and none may answer 5xx (a refusal is a 4xx with the right code).

Bounded in time: a few examples per operation, no shrinking (a failure is reported with the
request that caused it), a deadline per request."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.case import Case

from tools.mesh import Mesh

pytestmark = pytest.mark.integration
schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.timeout(360)  # the whole run, every operation of the document: 130 s here
@schema.parametrize()
@settings(max_examples=3, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))  # fmt: skip
def test_no_operation_answers_a_server_error(
    case: Case, fuzz_mesh: Mesh, admin_headers: dict[str, str]
) -> None:
    case.call_and_validate(
        base_url=fuzz_mesh.rest_url, headers=admin_headers, checks=[not_a_server_error],
        timeout=60,
    )  # fmt: skip
