#!/usr/bin/env bash
# Screenshots of the studio (project open, mask being painted, job running) under a virtual X server.
#   tests/gui/screenshots.sh [OUT_DIR]    (default docs/screenshots; build first: ./setup.sh build)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-docs/screenshots}
BIN=${MF_BUILD_DIR:-build}/bin/studio_screenshots
[ -x "$BIN" ] || { echo "build first: $BIN is missing (./setup.sh build)" >&2; exit 1; }
runner=()
if [ -z "${DISPLAY:-}" ]; then runner=(xvfb-run -a -s "-screen 0 1600x1000x24"); fi
"${runner[@]}" "$BIN" --project projects/demo --out "$OUT" "$@"
