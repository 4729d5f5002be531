"""`python -m services.vision`: one vision service process."""

from services.vision.service import SPEC
from voka.server import run

run(SPEC)
