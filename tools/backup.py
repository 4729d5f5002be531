"""Back up one service's database: `python -m tools.backup --service meetings --out backups/`.

The database is the one the service itself would open, from the same `VOKA_*` settings
(`VOKA_DATABASE_URL`, else the SQLite file under `VOKA_DATA_DIR`); `--database-url` overrides
it. Safe while the service runs (voka/backup.py). Prints the path of the copy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from voka import registry
from voka.backup import BackupError, backup
from voka.config import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.backup", description=__doc__)
    parser.add_argument("--service", required=True, choices=registry.names())
    parser.add_argument("--out", required=True, type=Path, help="directory for the copy")
    parser.add_argument("--database-url", help="back up this database instead")
    args = parser.parse_args(argv)
    url = args.database_url or Settings(service=args.service).sqlalchemy_url
    try:
        path = backup(url, args.out, args.service)
    except BackupError as exc:
        print(f"backup of {args.service} failed: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
