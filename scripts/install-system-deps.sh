#!/usr/bin/env bash
# Install the Debian/Ubuntu packages UnityKernel needs, skipping what is already there.
# Works as root, or as a normal user with sudo. Idempotent.
#   install-system-deps.sh [run]   what running the kernel needs (`make run`, `make setup`)
#   install-system-deps.sh test    + what the tests and the LLM model server build need
set -euo pipefail

# run: Python with venv, a C compiler and the Python headers for evdev's sdist and the
# kernel's native data path (built by `make run`), redis-server for the audit trail,
# PortAudio for the audio node
RUN_PACKAGES=(
  python3 python3-venv python3-dev build-essential
  redis-server
  libportaudio2
)
# test: cmake builds llama-cpp-python (the LLM test model server); a PulseAudio null sink,
# espeak-ng and sox make real sound for the audio tests; git (a developer's checkout)
TEST_PACKAGES=(
  cmake git
  pulseaudio alsa-utils espeak-ng sox
  chromium openssl   # the dashboard's browser test (Playwright drives the system chromium)
  iproute2 redis-tools   # the fleet tests: ip netns, redis-cli --cluster create (openssl: TLS)
  podman debootstrap runc catatonit   # make test-deploy: the image and the robot's pod
  libhiredis-dev   # the mirror benchmark's reference client in C (bench/csrc/xadd.c)
)

case "${1:-run}" in
  run) PACKAGES=("${RUN_PACKAGES[@]}") ;;
  test) PACKAGES=("${RUN_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
  *) echo "usage: $0 [run|test]" >&2; exit 2 ;;
esac

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
# Node.js and npm build the dashboard's flow editor (`make web`): checked by command, since a
# machine may have them from another source than Debian's packages (whose nodejs has no npm)
if ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

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
