"""`python -m services.speech`: one speech service process;
`python -m services.speech models ...`: install, convert and list models (see `cli`)."""

import sys

if len(sys.argv) > 1:
    from services.speech.cli import main

    sys.exit(main(sys.argv[1:]))

from services.speech.service import SPEC
from voka.server import run

run(SPEC)
