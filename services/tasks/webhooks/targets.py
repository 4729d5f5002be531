"""Where a webhook may send: the SSRF rules, used when a webhook is saved and again at every
delivery attempt.

A target must be `https://` on a public address. Plain `http://`, and loopback, private,
link-local or otherwise non-global addresses, are allowed only for hosts listed in
`VOKA_TASKS_WEBHOOK_ALLOWED_HOSTS` (names, or networks such as `127.0.0.1/32`): local and dev
setups. Saving checks what the URL says (an IP literal, `localhost`); a delivery resolves the
name, checks every address it resolves to, and connects to the address it checked, so a name
that resolves elsewhere later (DNS rebinding) cannot reach an inside address.

An IPv6 address that carries an IPv4 one reaches that IPv4 address (through the host's own
stack, a NAT64 gateway or a 6to4 relay), and Python 3.11 calls most such forms global: an
IPv4-mapped, NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address is judged by the IPv4 address it
embeds, and IPv4-compatible (::/96, deprecated), local-use NAT64 (64:ff9b:1::/48) and Teredo
(2001::/32) addresses are refused outright."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_URI = 2048
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain"})


class TargetRefused(ValueError):
    """A target the rules do not allow; the message says why."""


@dataclass(frozen=True)
class Allowed:
    """Hosts exempt from the https and public-address rules."""

    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Sequence[str]) -> Allowed:
        names, networks = set(), []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                names.add(entry.strip().lower().rstrip("."))
        return cls(frozenset(names), tuple(networks))

    def host(self, host: str) -> bool:
        ip = _literal(host)
        return host in self.names if ip is None else self.address(ip)

    def address(self, ip: IP) -> bool:
        return any(ip in network for network in self.networks)


def parse(uri: str, allowed: Allowed) -> SplitResult:
    """The URL if its shape is allowed (scheme, host, no credentials), else TargetRefused.
    Addresses are checked separately: `refused_address`, `resolve`."""
    if len(uri) > MAX_URI:
        raise TargetRefused(f"must be at most {MAX_URI} characters")
    try:
        url = urlsplit(uri)
        url.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise TargetRefused(f"is not a URL: {exc}") from exc
    host = (url.hostname or "").lower().rstrip(".")
    if url.scheme not in ("https", "http") or not host:
        raise TargetRefused("must be an https:// URL with a host")
    if url.username is not None or url.password is not None:
        raise TargetRefused("must not carry credentials (the signature authenticates us)")
    if url.scheme == "http" and not allowed.host(host):
        raise TargetRefused("must be https:// (http:// only for hosts allowed by configuration)")
    return url


def refused_address(host: str, allowed: Allowed) -> str | None:
    """Why a host written as an address (or `localhost`) is refused, else None."""
    if allowed.host(host):
        return None
    ip = _literal(host)
    if host in LOCAL_NAMES or (ip is not None and not _public(ip)):
        return "must not point at a loopback, private or link-local address"
    return None


async def resolve(host: str, port: int, allowed: Allowed) -> IP:
    """The address to connect to: every address the name resolves to must be allowed (a
    public one, or listed), and the first is used."""
    ip = _literal(host)
    if ip is None:
        loop = asyncio.get_running_loop()
        try:
            found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise TargetRefused(f"{host} does not resolve: {exc}") from exc
        ips = [ipaddress.ip_address(info[4][0]) for info in found]
    else:
        ips = [ip]
    for candidate in ips:
        if not (_public(candidate) or allowed.address(candidate) or host in allowed.names):
            raise TargetRefused(f"{host} resolves to {candidate}, which is not public")
    return ips[0]


_REFUSED_V6 = tuple(ipaddress.IPv6Network(n) for n in ("::/96", "64:ff9b:1::/48", "2001::/32"))
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _public(ip: IP) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in network for network in _REFUSED_V6):
            return False
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
        if embedded is not None:
            return _public(embedded)
    return ip.is_global and not ip.is_multicast


def _literal(host: str) -> IP | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
