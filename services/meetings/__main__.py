"""`python -m services.meetings`: one meetings service process."""

from services.meetings.service import SPEC
from voka.server import run

run(SPEC)
