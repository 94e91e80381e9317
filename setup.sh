#!/usr/bin/env bash
# One-step set-up for Manyfold on Debian 12: installs what is missing (packaging/debian-packages.txt),
# configures and builds incrementally, then runs the main job or the tests.
#
#   ./setup.sh run     build, then run the main job on the built-in default model
#   ./setup.sh test    build, then run every test suite (what CI runs)
#   ./setup.sh build   install and build only
#   ./setup.sh deps    install the Debian packages only
#
# Environment: MF_BUILD_DIR (default build), MF_JOBS (default: number of cores), MF_SKIP_APT=1 to never call apt.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
MODE=${1:-run}
BUILD_DIR=${MF_BUILD_DIR:-build}
JOBS=${MF_JOBS:-$(nproc)}

log() { printf '\033[1m[manyfold]\033[0m %s\n' "$*" >&2; }

install_deps() {
  local -a pkgs=() missing=()
  mapfile -t pkgs < <(sed 's/#.*//' packaging/debian-packages.txt | awk 'NF{print $1}')
  for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "all ${#pkgs[@]} Debian packages present"
    return
  fi
  if [ "${MF_SKIP_APT:-0}" = 1 ]; then
    log "missing packages (MF_SKIP_APT=1, not installing): ${missing[*]}"
    exit 1
  fi
  local SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  log "installing ${#missing[@]} missing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
}

configure_and_build() {
  local preset=${1:-default}
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    log "configuring ($preset) in $BUILD_DIR"
    cmake --preset "$preset" -B "$BUILD_DIR" >"$BUILD_DIR.configure.log" 2>&1 || {
      cat "$BUILD_DIR.configure.log"; exit 1; }
  fi
  log "building with $JOBS jobs"
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

run_tests() {
  # GUI tests need a display: run the whole suite under a virtual X server when there is none.
  local runner=()
  if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then
    runner=(xvfb-run -a -s "-screen 0 1600x1000x24")
  fi
  log "running tests"
  (cd "$BUILD_DIR" && "${runner[@]}" ctest --output-on-failure -j "$JOBS" --timeout 900)
}

run_main_job() {
  local bin="$BUILD_DIR/bin"
  if [ -f resources/models/manyfold-toy/model_index.json ] && [ -x "$bin/manyfold" ] &&
     "$bin/manyfold" help demo >/dev/null 2>&1; then
    if [ -n "${DISPLAY:-}" ] && [ -x "$bin/manyfold-studio" ]; then
      # The studio works on a copy: projects/demo in the repository stays as committed.
      local copy=manyfold-demo-output/studio-project
      if [ ! -d "$copy" ]; then mkdir -p manyfold-demo-output && cp -r projects/demo "$copy"; fi
      exec "$bin/manyfold-studio" "$copy"
    fi
    exec "$bin/manyfold" demo --project projects/demo
  fi
  # Until the built-in model exists, the main job is the install's self-check.
  log "the built-in model is not available yet: running the install self-check"
  "$bin/manyfold" doctor
}

case "$MODE" in
  deps) install_deps ;;
  build) install_deps; configure_and_build ;;
  test) install_deps; configure_and_build ci; run_tests ;;
  run) install_deps; configure_and_build; run_main_job ;;
  *) echo "usage: ./setup.sh run|test|build|deps" >&2; exit 2 ;;
esac
