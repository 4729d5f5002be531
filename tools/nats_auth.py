"""NATS users, and what each may say: one user per service, derived from its declaration.

Events carry no signature, so the subject is the proof of who published an event: only auth
may publish `voka.auth.>` (a `UserDeletedEvent` erases a user's data everywhere), only speech
`voka.speech.>` (meetings takes transcripts from its results). Each service's user may publish
its own domain's subjects and the kit's shared ones (`voka.ops.>`: health and alerts,
`voka.dlq.>`: dead letters), and read its own domain, the auth events the kit follows in every
service (revocations, API keys, signing keys, erasure) and what its declaration `consumes`.

Why not simply allow `$JS.API.>`: the JetStream API can put a message on any subject without
a publish permission for it. A stream's `republish`, or a `source` with a subject transform
added to auth's stream, copies a service's own events into `voka.auth.user.deleted`, and
purge or delete throws another domain's events away. So a service may only *create* the
streams it uses, with the kit's configuration (`Bus.ensure_stream`, which only re-asserts an
existing stream), never update, purge or delete one; and may only create, read from and ack
consumers of the streams it reads. The administrator (`voka-admin`) creates and updates the
streams (`provision`): `make up` on every start, a Job in Kubernetes. Replies come to a
user's own inbox prefix (`voka.bus.inbox_prefix`), which no other service may read.

`python -m tools.nats_auth k8s [--check]` writes (or checks) k8s/base/nats/auth.conf, where
the passwords are references to the NATS pods' environment (from one Secret per service);
`python -m tools.nats_auth provision` creates or updates every stream as the administrator
(VOKA_NATS_URL, VOKA_NATS_USER, VOKA_NATS_PASSWORD).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from voka import registry
from voka.bus import DLQ_PREFIX, DLQ_STREAM_NAME, Bus, inbox_prefix, stream_name
from voka.config import NatsCredentials, Settings
from voka.objects import bucket_of, stream_of

ROOT = Path(__file__).resolve().parent.parent
K8S_CONFIG = ROOT / "k8s" / "base" / "nats" / "auth.conf"

ADMIN = "voka-admin"  # not a domain name (those have no '-'), so never a service's user
OPS = "ops"  # the kit's own events (voka/server.py: status changes, alerts), from every service
KIT_CONSUMES = ("voka.auth.>",)  # voka/revocations.py, apikeys.py, credentials.py, erasure.py
EVERYTHING = ("voka.>",)  # what an undeclared service may read (Declaration.consumes is None)


@dataclass(frozen=True)
class Permissions:
    """NATS `permissions` of one user: the subjects it may publish to and subscribe to."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def domains() -> tuple[str, ...]:
    """Every domain with a stream: the declared services and the kit's ops."""
    return (*registry.names(), OPS)


def _domains_of(pattern: str) -> list[str]:
    """The domains whose events a subject pattern reaches (`voka.<domain>.…`)."""
    tokens = pattern.split(".")
    if len(tokens) < 2 or tokens[0] != "voka" or "" in tokens or ">" in tokens[:-1]:
        raise ValueError(f"consumes {pattern!r}: not a voka.<domain>.… subject or pattern")
    if tokens[1] in ("*", ">"):
        return list(domains())
    if tokens[1] not in domains():
        raise ValueError(f"consumes {pattern!r}: no domain named {tokens[1]!r}")
    return [tokens[1]]


def consumed(declaration: registry.Declaration) -> tuple[str, ...]:
    """The subjects a service reads: its own domain, the kit's, and what it declares."""
    declared = EVERYTHING if declaration.consumes is None else declaration.consumes
    return _unique((f"voka.{declaration.name}.>", *KIT_CONSUMES, *declared))


def permissions(declaration: registry.Declaration) -> Permissions:
    """What the service's user may do: see the module's docstring for why each part."""
    name = declaration.name
    reads = sorted({stream_name(d) for p in consumed(declaration) for d in _domains_of(p)})
    writes = [stream_name(name), stream_name(OPS), DLQ_STREAM_NAME]
    streams = sorted({*reads, *writes})
    publish = (
        f"voka.{name}.>",
        f"voka.{OPS}.>",
        f"{DLQ_PREFIX}>",
        "$JS.API.INFO",
        *(f"$JS.API.STREAM.{verb}.{s}" for s in streams for verb in ("CREATE", "INFO")),
        *(f"$JS.API.STREAM.MSG.GET.{s}" for s in reads),
        *(f"$JS.API.CONSUMER.CREATE.{s}.>" for s in reads),
        *(f"$JS.API.CONSUMER.DURABLE.CREATE.{s}.*" for s in reads),
        *(f"$JS.API.CONSUMER.INFO.{s}.*" for s in reads),
        *(f"$JS.API.CONSUMER.MSG.NEXT.{s}.*" for s in reads),
        *(f"$JS.ACK.{s}.>" for s in reads),
        *_object_permissions(declaration),
    )
    subscribe = (
        f"{inbox_prefix(name)}.>",
        *consumed(declaration),
        *(f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{s}.*" for s in reads),
    )
    return Permissions(_unique(publish), _unique(subscribe))


def _object_permissions(declaration: registry.Declaration) -> tuple[str, ...]:
    """Its own object bucket (voka/objects.py): create it, write, overwrite (the old chunks
    purged) and delete its objects; direct gets only in the buckets it may read. No update,
    so a service cannot add a republish to its bucket's stream (see the module docstring)."""
    own = stream_of(bucket_of(declaration.name))
    readable = [own, *(stream_of(bucket_of(d)) for d in declaration.reads_objects)]
    return (
        f"$O.{bucket_of(declaration.name)}.>",
        *(f"$JS.API.STREAM.{verb}.{own}" for verb in ("CREATE", "INFO", "PURGE", "MSG.GET")),
        *(f"$JS.API.DIRECT.GET.{s}{tail}" for s in readable for tail in ("", ".>")),
    )


def users() -> tuple[str, ...]:
    """Every NATS user: the administrator, then one per declared service."""
    return (ADMIN, *registry.names())


def authorization(password_of: Callable[[str], str]) -> str:
    """nats-server's `authorization` block for every user. `password_of(user)` is the password
    as the config file must say it: a quoted literal (`make up`) or a `$VARIABLE` reference to
    the server's environment (Kubernetes)."""
    lines = ["authorization {", "  users: ["]
    for user in users():
        lines += ["    {", f"      user: {json.dumps(user)}"]
        lines.append(f"      password: {password_of(user)}")
        if user != ADMIN:
            allowed = permissions(registry.declaration(user))
            lines.append("      permissions: {")
            for kind, subjects in (("publish", allowed.publish), ("subscribe", allowed.subscribe)):
                lines.append(f"        {kind}: {{ allow: [")
                lines += [f"          {json.dumps(subject)}" for subject in subjects]
                lines.append("        ] }")
            lines.append("      }")
        lines.append("    }")
    return "\n".join([*lines, "  ]", "}"]) + "\n"


def literal_passwords(passwords: dict[str, str]) -> Callable[[str], str]:
    return lambda user: json.dumps(passwords[user])


def password_variable(user: str) -> str:
    """The NATS pod's environment variable holding a user's password (Kubernetes)."""
    return "VOKA_NATS_PASSWORD_" + user.upper().replace("-", "_")


def k8s_secret(user: str) -> str:
    """The Secret (key `password`) holding a user's password in Kubernetes (k8s/README.md)."""
    return "voka-nats-admin" if user == ADMIN else f"voka-{user}-nats"


def k8s_config() -> str:
    return (
        "# Generated by `python -m tools.nats_auth k8s` from the services' declarations: never\n"
        "# edit by hand (tests/k8s checks it). Passwords come from the pod's environment, one\n"
        "# Secret per user (k8s/README.md); what each user may do: tools/nats_auth.py.\n"
        + authorization(lambda user: f"${password_variable(user)}")
    )


async def provision(url: str, credentials: NatsCredentials) -> list[str]:
    """Create or update every domain's stream (and the dead letters') as the administrator,
    with the kit's configuration: the services only ever re-assert them."""
    bus = await Bus.connect(url, name="voka-streams", credentials=credentials)
    try:
        return [await bus.ensure_stream(domain) for domain in domains()]
    finally:
        await bus.close()


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    k8s = commands.add_parser("k8s", help=f"write {K8S_CONFIG.relative_to(ROOT)}")
    k8s.add_argument("--check", action="store_true", help="fail if the file is not current")
    commands.add_parser("provision", help="create or update every stream as the administrator")
    args = parser.parse_args(argv)
    if args.command == "provision":
        settings = Settings()
        if settings.nats_credentials is None:
            parser.error("set VOKA_NATS_USER and VOKA_NATS_PASSWORD (the administrator)")
        streams = asyncio.run(provision(settings.nats_url, settings.nats_credentials))
        print("streams ready:", ", ".join(streams))
        return 0
    if args.check:
        if K8S_CONFIG.read_text() != k8s_config():
            print(f"{K8S_CONFIG} is stale: run `python -m tools.nats_auth k8s`", file=sys.stderr)
            return 1
        return 0
    K8S_CONFIG.write_text(k8s_config())
    return 0


if __name__ == "__main__":
    sys.exit(main())
