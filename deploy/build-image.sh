#!/usr/bin/env bash
# Build the UnityKernel image from the repository (`make image`).
#   IMAGE        tag to build (default localhost/unity-kernel:<package version>)
#   BASE_IMAGE   a Debian 12 image (default docker.io/library/debian:bookworm-slim;
#                deploy/base-image.sh makes localhost/debian-base:bookworm without a registry)
#   CONTAINER_ENGINE  podman (default) or docker
#   CA_BUNDLE    a CA bundle for pip and npm inside the build, when this network re-signs TLS
#                (default: the one pip is configured with here, if any; podman only)
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINE=${CONTAINER_ENGINE:-podman}
VERSION=$(sed -n 's:.*<version>\(.*\)</version>.*:\1:p' package.xml | head -n1)
IMAGE=${IMAGE:-localhost/unity-kernel:$VERSION}
BASE_IMAGE=${BASE_IMAGE:-docker.io/library/debian:bookworm-slim}
args=(build -f deploy/Containerfile --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$IMAGE")
cert=${CA_BUNDLE:-${PIP_CERT:-$(pip config get global.cert 2>/dev/null || true)}}
if [ -n "$cert" ] && [ -f "$cert" ] && [ "$ENGINE" = podman ]; then
  # mounted into the build's RUN steps only: it is not copied into any layer
  args+=(--volume "$cert:/run/host-ca.crt:ro" --build-arg CA_BUNDLE=/run/host-ca.crt)
fi
"$ENGINE" "${args[@]}" "$@" .
echo "image: $IMAGE (from $BASE_IMAGE)"
