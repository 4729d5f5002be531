#!/usr/bin/env bash
# buf breaking against the API as it was before this change.
# The base is $VOKA_API_BASE if set, else origin/main when it differs from HEAD (a branch being
# reviewed), else HEAD's parent (CI on main checks the change that just landed). Skipped, with a
# message, while the base has no protos yet.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${VOKA_API_BASE:-}
if [ -z "$base" ]; then
  if git rev-parse -q --verify origin/main >/dev/null \
     && [ "$(git rev-parse origin/main)" != "$(git rev-parse HEAD)" ]; then
    base=origin/main
  else
    base=HEAD~1
  fi
fi
if ! git rev-parse -q --verify "$base^{commit}" >/dev/null \
   || ! git cat-file -e "$base:buf.yaml" 2>/dev/null \
   || [ -z "$(git ls-tree -r --name-only "$base" -- protos | grep '\.proto$' || true)" ]; then
  echo "breaking: $base has no protos yet; nothing to compare"
  exit 0
fi
echo "breaking: comparing protos/ against $base"
exec .venv/bin/buf breaking --against ".git#ref=$(git rev-parse "$base")"
