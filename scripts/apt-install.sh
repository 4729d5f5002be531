#!/bin/sh
# Installs the Debian packages named in the given lists (scripts/apt-packages*.txt, or `-` for
# stdin: one a line, `#` comments) without recommends, then drops what apt downloaded and cached
# (about 100 MB where the base image does not already clean it, as debootstrap's does not): how
# every Dockerfile stage installs its packages, so a layer holds the packages only.
set -eu
apt-get update -qq
sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$@" \
  | DEBIAN_FRONTEND=noninteractive xargs apt-get install -y -qq --no-install-recommends
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
