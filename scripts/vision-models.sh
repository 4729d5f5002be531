#!/usr/bin/env bash
# Unpacks the vision service's object detector into DIR (default var/models/vision): npm's
# @mediapipe/objectron (Apache-2.0) carries MediaPipe's SSD-MobileNetV2 Open Images detector in
# objectron_solution_packed_assets.data, the label map in its first 184 bytes and the tflite in
# the rest. Idempotent: nothing is fetched when both files are there with the right SHA-256.
# Used by scripts/bootstrap.sh and the Dockerfile's vision stage.
set -euo pipefail
dir=${1:-var/models/vision}
package=@mediapipe/objectron@0.4.1675468480
model=$dir/ssd_mobilenet_v2_oid.tflite
labels=$dir/ssd_mobilenet_v2_oid.labels
model_sha=d0a5255bf8c4f5a0bc4240741a76c41d5e939f7655078f945f50ab53a9375da6
labels_sha=c148336a65f673013609a923fdcbdeec0f49df935045029c3746a3828a0e80e0

verified() {
  [ -f "$model" ] && [ -f "$labels" ] \
    && echo "$model_sha  $model" | sha256sum --check --status \
    && echo "$labels_sha  $labels" | sha256sum --check --status
}
verified && exit 0
if ! command -v npm >/dev/null 2>&1; then
  echo "vision-models: npm not found: the object detector is not installed in $dir" >&2
  exit 0
fi
echo "vision-models: fetching $package (npm pack, 33 MB) for the object detector"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" >/dev/null \
  && tar xzf ./*.tgz package/objectron_solution_packed_assets.data)
packed=$work/package/objectron_solution_packed_assets.data
mkdir -p "$dir"
head -c 184 "$packed" >"$labels.part"
tail -c +185 "$packed" >"$model.part"
echo "$labels_sha  $labels.part" | sha256sum --check --status \
  && echo "$model_sha  $model.part" | sha256sum --check --status \
  || { echo "vision-models: $package did not hold the expected detector" >&2; exit 1; }
mv "$labels.part" "$labels"
mv "$model.part" "$model"
echo "vision-models: installed $model"
