"""`python -m services.tasks`: one tasks service process."""

from services.tasks.service import SPEC
from voka.server import run

run(SPEC)
