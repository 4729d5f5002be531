"""`python -m services.translate`: one translate service process;
`python -m services.translate models ...`: install and list models (see `cli`)."""

import sys

if len(sys.argv) > 1:
    from services.translate.cli import main

    sys.exit(main(sys.argv[1:]))

from services.translate.service import SPEC
from voka.server import run

run(SPEC)
