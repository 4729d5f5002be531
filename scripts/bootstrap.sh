#!/usr/bin/env bash
# Installs what the mesh needs: the Debian packages of every scripts/apt-packages*.txt list (every
# image's, each service's, the build stage's compilers, the tests' tools) and every
# requirements*.txt (the kit, each service's, development's) into ./.venv (which bring nats-server,
# envoy and buf as wheels). Idempotent and fast: it does nothing when every Debian package is
# installed and no requirements file has changed since the last successful install. Lists given
# as arguments are installed too (`make image`: scripts/image-tools.txt).
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
done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/apt-packages*.txt "$@")
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

requirements=(requirements*.txt)
stamp=.venv/.requirements.sha256
want=$(sha256sum "${requirements[@]}" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python packages into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    $(printf -- '-r %s ' "${requirements[@]}")
  echo "$want" >"$stamp"
fi

# The vision service's packages that come without their dependencies (MediaPipe and the
# gesture recogniser's package declare GUI, audio and a second OpenCV; what MediaPipe imports is
# in requirements-vision.txt).
no_deps=scripts/vision-no-deps.txt
no_deps_stamp=.venv/.vision-no-deps.sha256
no_deps_want=$(sha256sum "$no_deps" | cut -d' ' -f1)
if [ "$(cat "$no_deps_stamp" 2>/dev/null)" != "$no_deps_want" ]; then
  echo "bootstrap: installing $no_deps into .venv (--no-deps)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r "$no_deps"
  echo "$no_deps_want" >"$no_deps_stamp"
fi

# The vision service's object detector: SSD-MobileNetV2 (Open Images) ships inside npm's
# @mediapipe/objectron; bytes 0-184 of its packed assets are the label map, the rest the tflite
# (docs/vision.md). Checked by SHA-256; skipped with a note without npm.
scripts/vision-models.sh var/models/vision

# The Python client and `voka` command (clients/python), editable: its code runs from the
# checkout, but its wheel copies gen/voka's stubs into .venv (clients/python/README.md), so it is
# installed again whenever its build definition or the contracts (gen/voka.binpb) change.
client=clients/python
client_stamp=.venv/.voka-client.sha256
client_want=$(sha256sum "$client/pyproject.toml" "$client/hatch_build.py" gen/voka.binpb \
  | sha256sum | cut -d' ' -f1)
if [ "$(cat "$client_stamp" 2>/dev/null)" != "$client_want" ]; then
  echo "bootstrap: installing the Python client ($client) into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$client"
  echo "$client_want" >"$client_stamp"
fi

# The web console (web/README.md), which Envoy serves at `/` from web/dist: `npm ci` when
# package-lock.json changed, `npm run build` (typed client generated from gen/voka.binpb,
# typecheck, lint, unit tests, bundle) when the lock, the console's sources or the contracts
# changed. Without Node.js 20.19+ it is skipped with a note, and `/` answers 404.
web_sources() {
  find web -path web/node_modules -prune -o -path web/dist -prune -o -path web/src/gen -prune \
    -o -type f -print | LC_ALL=C sort | xargs sha256sum
  sha256sum gen/voka.binpb
}
if ! command -v npm >/dev/null 2>&1 \
  || ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
                process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "bootstrap: Node.js 20.19+ and npm not found: the web console is not built" >&2
else
  lock_stamp=web/node_modules/.voka-lock.sha256
  lock_want=$(sha256sum web/package-lock.json | cut -d' ' -f1)
  if [ "$(cat "$lock_stamp" 2>/dev/null)" != "$lock_want" ]; then
    echo "bootstrap: installing the web console's packages (npm ci)"
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_want" >"$lock_stamp"
  fi
  build_stamp=web/node_modules/.voka-build.sha256
  build_want=$(web_sources | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$build_stamp" 2>/dev/null)" != "$build_want" ] || [ ! -f web/dist/index.html ]; then
    echo "bootstrap: building the web console (web/dist)"
    (cd web && npm run --silent build)
    echo "$build_want" >"$build_stamp"
  fi
fi

# checkov (tests/k8s/test_checkov.py) in a virtualenv of its own inside .venv: its dependencies
# conflict with the project's.
checkov=.venv/tools/checkov
checkov_stamp=$checkov/.requirements.sha256
checkov_want=$(sha256sum scripts/checkov-requirements.txt | cut -d' ' -f1)
if [ "$(cat "$checkov_stamp" 2>/dev/null)" != "$checkov_want" ]; then
  echo "bootstrap: installing checkov into $checkov"
  [ -x "$checkov/bin/python" ] || "$PY" -m venv "$checkov"
  "$checkov/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r scripts/checkov-requirements.txt
  echo "$checkov_want" >"$checkov_stamp"
fi
