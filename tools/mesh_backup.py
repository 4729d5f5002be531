"""Back up every service's database through the gateway, as an admin's API key allows:
`python -m tools.mesh_backup --url http://envoy:8080 --api-key-file <file>`.

What the backup CronJob runs (k8s/base/ops/backup-cronjob.yaml): one `POST /api/v1/backups`
(OpsService CreateMeshBackup), each service's result printed, and exit status 1 when the call
or any service's backup failed, so the Job is marked failed where operators look.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import httpx

from voka.authn import API_KEY_HEADER
from voka.mesh_ops import BACKUP_TIMEOUT

ROUTE = "/api/v1/backups"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mesh_backup", description=__doc__)
    parser.add_argument("--url", required=True, help="the gateway, e.g. http://envoy:8080")
    parser.add_argument(
        "--api-key-file", required=True, type=Path, help="a file holding an admin's API key"
    )
    args = parser.parse_args(argv)
    key = args.api_key_file.read_text().strip()
    # The services back up in parallel, each within BACKUP_TIMEOUT; the answer comes after.
    reply = httpx.post(
        args.url.rstrip("/") + ROUTE,
        json={},
        headers={API_KEY_HEADER: key},
        timeout=BACKUP_TIMEOUT + 60,
    )
    if reply.status_code != httpx.codes.OK:
        print(f"backup refused: HTTP {reply.status_code} {reply.text}", file=sys.stderr)
        return 1
    reports: list[dict[str, Any]] = reply.json().get("services", [])
    for report in reports:
        print(_line(report), file=sys.stderr if report.get("error") else sys.stdout)
    return 1 if any(report.get("error") for report in reports) else 0


def _line(report: dict[str, Any]) -> str:
    if report.get("error"):
        return f"{report['service']}: FAILED {report['error']}"
    backup = report["backup"]
    size = backup.get("sizeBytes", "0")
    return f"{report['service']}: {backup['file']} ({size} bytes) on {backup['instance']}"


if __name__ == "__main__":
    sys.exit(main())
