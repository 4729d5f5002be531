"""Operator commands of the auth service.

`python -m services.auth create-admin --email ... --username ...`: the first admin. There is no
default admin and no default password: the operator types the password at a prompt or pipes it
on standard input.

`python -m services.auth rotate-keys`: a new signing key (see services/auth/keys.py). The
running service notices within `VOKA_AUTH_KEYS_POLL_SECONDS` and announces it to the mesh.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import UTC, datetime

from services.auth import DECLARATION
from services.auth import validation as check
from services.auth.keys import KeyRing, Rotation
from services.auth.passwords import hash_password
from services.auth.rpcs import AuthServicer
from services.auth.settings import AuthSettings
from services.auth.store import Client
from voka import db, errors
from voka.auth.v1 import auth_pb2
from voka.outbox import Outbox


def read_password() -> str:
    """From the prompt (twice) on a terminal, else the first line of standard input."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("passwords differ")
    return first


async def create_admin(settings: AuthSettings, username: str, email: str, password: str) -> str:
    """Create the account with the admin role; answers its resource name."""
    username, email = check.normal_username(username), check.normal_email(email)
    check.check(
        check.username_problems(username)
        + check.email_problems(email)
        + check.password_problems(password)
    )
    engine = db.create_engine(settings.sqlalchemy_url)
    try:
        await db.migrate(engine, "auth")
        # The account's UserRegisteredEvent waits in the outbox for the service's relay.
        outbox = Outbox(DECLARATION.name)
        servicer = AuthServicer(settings, db.session_factory(engine), outbox, None, None)  # type: ignore[arg-type]
        row = await servicer.create_user(
            username,
            email,
            await hash_password(password),
            Client("", "create-admin"),
            role=auth_pb2.ROLE_ADMIN,
        )
    finally:
        await engine.dispose()
    return f"users/{row.id}"


def rotate_keys(settings: AuthSettings) -> Rotation:
    """Promote the published next key to signing key; the old one stays published until the
    tokens it signed have expired."""
    return KeyRing.open(settings.keys_dir, settings.key_retire_seconds).rotate()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.auth", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    admin = commands.add_parser("create-admin", help="create an account with the admin role")
    admin.add_argument("--email", required=True)
    admin.add_argument("--username", required=True)
    commands.add_parser("rotate-keys", help="make the next signing key current")
    args = parser.parse_args(argv)
    settings = AuthSettings(service="auth")
    if args.command == "rotate-keys":
        rotation = rotate_keys(settings)
        print(
            f"signing key {rotation.new_kid}; {rotation.old_kid} published until "
            f"{datetime.fromtimestamp(rotation.old_key_expires_at, UTC).isoformat()}"
        )
        return 0
    try:
        name = asyncio.run(create_admin(settings, args.username, args.email, read_password()))
    except errors.VokaError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(name)
    return 0
