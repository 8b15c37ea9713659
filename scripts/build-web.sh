#!/usr/bin/env bash
# Build the dashboard's flow editor and live plots (web/ -> src/unity_kernel_core/live/static/app/).
# `make web` (and so `make run`, `make test`) and setup.py's build step (colcon build) run it.
# npm ci installs the locked packages (web/package-lock.json) from the npm cache when they are
# there, else from the registry; nothing is downloaded when the kernel runs. Without npm it
# says so and exits 0: the dashboard works, and its /flows page says how to build the editor.
set -euo pipefail
cd "$(dirname "$0")/../web"
if ! command -v npm >/dev/null 2>&1; then
  echo "web: npm not found: the flow editor and live plots are not built (install nodejs and npm, then make web)" >&2
  exit 0
fi
npm ci --no-audit --no-fund --prefer-offline --loglevel=error
node build.mjs
