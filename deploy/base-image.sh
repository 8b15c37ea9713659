#!/usr/bin/env bash
# Make a Debian 12 (bookworm) base image without a registry: debootstrap from the Debian
# mirror apt already uses, then `podman import`. For machines that reach Debian's packages
# but no container registry (the deploy tests use it); elsewhere the public
# docker.io/library/debian:bookworm-slim does the same job.
#   deploy/base-image.sh [TAG]      (default localhost/debian-base:bookworm; needs root)
# Podman's storage and settings come from the environment (CONTAINERS_CONF,
# CONTAINERS_STORAGE_CONF), as for every podman command.
set -euo pipefail
TAG=${1:-localhost/debian-base:bookworm}
ENGINE=${CONTAINER_ENGINE:-podman}

# the first Debian mirror of apt's sources (deb822 or one-line format)
mirror() {
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' \
        | grep -v -- '-security' | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
          | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

ROOTFS=$(mktemp -d "${TMPDIR:-/tmp}/unity-rootfs.XXXXXX")
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase bookworm "$ROOTFS" "$(mirror)" >"$ROOTFS.log" 2>&1 \
  || { tail -n 20 "$ROOTFS.log" >&2; rm -f "$ROOTFS.log"; exit 1; }
rm -f "$ROOTFS.log"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
# the ENV PATH matters: without it `podman kube play` finds no executable in the image
tar --numeric-owner -C "$ROOTFS" -c . \
  | "$ENGINE" import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["/bin/bash"]' - "$TAG" >/dev/null
echo "base image: $TAG"
