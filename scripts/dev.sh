#!/usr/bin/env bash
# fusebox set-up, build and run, idempotent:
#   scripts/dev.sh train [key=value ...]  install what is missing, build, run configs/qwen3.yaml
#   scripts/dev.sh test  [ctest args ...] install what is missing, build, run ctest
#   scripts/dev.sh build                  install what is missing, build
# Debian 12 as root (or with sudo). A second run with nothing changed takes seconds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR=${FUSEBOX_BUILD_DIR:-build}
PACKAGES=(
  cmake ninja-build g++ ccache pkg-config
  libtorch-dev libopenblas0-openmp   # OpenBLAS: 20-35x faster matmuls than the reference BLAS
  libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  libicu-dev                         # NFC and Unicode classes for the BPE tokenizer
  googletest libgtest-dev libbenchmark-dev
)

install_missing() {
  local missing=()
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "fusebox: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

build() {
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
  fi
  cmake --build "$BUILD_DIR" --parallel "$(nproc)"
}

cmd=${1:-train}
[ $# -gt 0 ] && shift
case "$cmd" in
  train)
    install_missing
    build
    exec "$BUILD_DIR/bin/train" --config configs/qwen3.yaml "$@"
    ;;
  test)
    install_missing
    build
    cd "$BUILD_DIR"
    exec ctest --output-on-failure --parallel "$(nproc)" "$@"
    ;;
  build)
    install_missing
    build
    ;;
  *)
    echo "usage: scripts/dev.sh train|test|build [args]" >&2
    exit 2
    ;;
esac
