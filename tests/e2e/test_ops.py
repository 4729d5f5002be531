"""The kit's system and API figures and alerts in every service's detailed health, over REST
through Envoy (GET /api/v1/health/{service})."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_detailed_health_shows_system_and_api_figures(rest: httpx.Client):
    reply = rest.get("/api/v1/health/translate")
    assert reply.status_code == 200, reply.text
    health = reply.json()["health"]
    system = health["system"]
    assert 0 < system["memoryPercent"] <= 100
    assert 0 < system["diskPercent"] <= 100
    assert 0 <= system["cpuPercent"] <= 100
    assert "sampleTime" in system
    assert health["api"]["window"] == "60s"
    assert isinstance(health["alerts"], list)  # what fires depends on the machine
