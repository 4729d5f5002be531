"""`python -m services.auth`: one auth service process; `... create-admin`, `... rotate-keys`:
operator commands (services/auth/cli.py)."""

import sys

from services.auth.cli import main
from services.auth.service import SPEC
from voka.server import run

if len(sys.argv) > 1:
    sys.exit(main(sys.argv[1:]))
run(SPEC)
