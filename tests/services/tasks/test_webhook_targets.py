"""The SSRF rules for IPv6 forms that carry an IPv4 address inside them: an IPv4-compatible
(`::a.b.c.d`), IPv4-mapped, NAT64, 6to4 or Teredo address reaches the IPv4 address it embeds,
so it is judged by that address (or refused outright where the form has no public use)."""

from __future__ import annotations

import ipaddress

import pytest

from services.tasks.webhooks import targets
from services.tasks.webhooks.targets import Allowed, TargetRefused

INSIDE = [
    "::127.0.0.1",  # IPv4-compatible (deprecated): refused whatever it embeds
    "::8.8.8.8",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.1.2.3",
    "64:ff9b::7f00:1",  # NAT64 well-known prefix: 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # 169.254.169.254, the cloud metadata address
    "64:ff9b::c0a8:101",  # 192.168.1.1
    "64:ff9b:1::808:808",  # local-use NAT64 (RFC 8215): refused outright
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo (client 127.0.0.1): refused outright
    "2001:0:808:808:0:0:f7f7:f7f7",  # Teredo (client 8.8.8.8): refused outright too
]
OUTSIDE = ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "2606:4700:4700::1111"]


@pytest.mark.parametrize("address", INSIDE)
async def test_ipv6_forms_of_inside_addresses_are_refused(address: str):
    assert targets.refused_address(address, Allowed()) is not None
    with pytest.raises(TargetRefused, match="not public"):
        await targets.resolve(address, 443, Allowed())


@pytest.mark.parametrize("address", OUTSIDE)
async def test_ipv6_forms_of_public_addresses_are_allowed(address: str):
    assert targets.refused_address(address, Allowed()) is None
    assert await targets.resolve(address, 443, Allowed()) == ipaddress.ip_address(address)


def test_a_saved_url_with_an_embedded_inside_address_is_refused():
    url = targets.parse("https://[64:ff9b::a9fe:a9fe]/hook", Allowed())
    assert targets.refused_address(url.hostname or "", Allowed()) is not None
