"""`python -m services.kinect`: one kinect service process."""

from services.kinect.service import SPEC
from voka.server import run

run(SPEC)
