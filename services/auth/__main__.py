"""`python -m services.auth`: one auth service process."""

from services.auth.service import SPEC
from voka.server import run

run(SPEC)
