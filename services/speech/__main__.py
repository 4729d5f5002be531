"""`python -m services.speech`: one speech service process."""

from services.speech.service import SPEC
from voka.server import run

run(SPEC)
