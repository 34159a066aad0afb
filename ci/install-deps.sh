#!/usr/bin/env bash
# Installs what keel needs to build, test and run on Debian 12, as root.
# Idempotent: silent and quick when everything is present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config python3
  libboost-context-dev librocksdb-dev libxxhash-dev capnproto libcapnp-dev
  catch2 librapidcheck-dev libcli11-dev libtomlplusplus-dev libfmt-dev
  redis-tools redis-server
  chromium
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
