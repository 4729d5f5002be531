"""`python -m services.assistant`: one assistant service process."""

from services.assistant.service import SPEC
from voka.server import run

run(SPEC)
