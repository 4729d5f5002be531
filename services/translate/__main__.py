"""`python -m services.translate`: one translate service process."""

from services.translate.service import SPEC
from voka.server import run

run(SPEC)
