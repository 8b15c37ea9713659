#!/usr/bin/env bash
# Install the Debian/Ubuntu packages UnityKernel needs, skipping what is already there.
# Works as root, or as a normal user with sudo. Idempotent.
set -euo pipefail

PACKAGES=(
  python3 python3-venv python3-dev build-essential cmake git
  redis-server
  libportaudio2 pulseaudio alsa-utils espeak-ng sox
  chromium openssl   # the dashboard's browser test (Playwright drives the system chromium)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "error: missing system packages (${missing[*]}) and no sudo to install them as $(id -un)" >&2
  exit 1
fi

echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
