#!/usr/bin/env bash
# Fuzzes fusebox's safetensors header parser (src/io/safetensors_header.cpp) with libFuzzer
# under AddressSanitizer and UndefinedBehaviorSanitizer, outside the main build (no torch):
#   scripts/fuzz-safetensors.sh [seconds=60] [extra libFuzzer flags ...]
#   scripts/fuzz-safetensors.sh coverage   # line coverage of the parser by the saved corpus
# The corpus persists in $FUSEBOX_FUZZ_DIR (default build-fuzz/), so later runs continue
# from where earlier ones stopped; a crashing input is written to build-fuzz/artifacts/.
# Installs clang and its fuzzer runtime (Debian 12: clang, libclang-rt-14-dev) if missing.
set -euo pipefail
export LC_ALL=C  # ${#json} counts bytes
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_TO_RUN=${1:-60}
[ $# -gt 0 ] && shift
OUT=${FUSEBOX_FUZZ_DIR:-build-fuzz}
CXX=${FUZZ_CXX:-clang++}

install_missing() {
  local missing=()
  for pkg in clang libclang-rt-14-dev nlohmann-json3-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "fuzz: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

# A seed file: 8-byte little-endian header length, the JSON header, then $3 zero bytes.
seed() {
  local name=$1 json=$2 data=${3:-0} n i
  n=${#json}
  {
    for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $(((n >> (8 * i)) & 255)))"; done
    printf '%s' "$json"
    head -c "$data" /dev/zero
  } >"$OUT/seeds/$name"
}

make_seeds() {
  mkdir -p "$OUT/seeds"
  seed one '{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}' 16
  seed meta '{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}' 16
  seed empty_tensor '{"e":{"dtype":"F16","shape":[0,4],"data_offsets":[0,0]}}' 0
  seed dtypes '{"a":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"c":{"dtype":"I32","shape":[1],"data_offsets":[4,8]},"d":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},"e":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[16,18]}}' 18
  seed overlap '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}' 16
  seed padded '{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}       ' 1
  seed empty_header '{}' 0
  seed numel_overflow '{"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}}' 0
  seed bytes_overflow '{"v":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}}' 0
  seed long_name "{\"$(printf 'n%.0s' $(seq 200))\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,2]}}" 2
  seed odd_values '{"__metadata__":[],"w":{"dtype":"U8","shape":{},"data_offsets":[-0,1]},"x":{"dtype":"U8","shape":[-0],"data_offsets":[0,0]}}' 1
}

# Replays the corpus through a coverage-instrumented build and reports the parser's lines.
coverage() {
  local bin="$OUT/fuzz_safetensors_header_cov"
  "$CXX" -std=c++17 -O0 -Isrc -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping \
    "${SOURCES[@]}" -o "$bin"
  LLVM_PROFILE_FILE="$OUT/cov.profraw" "$bin" -runs=0 "$OUT/corpus" "$OUT/seeds" >/dev/null 2>&1
  llvm-profdata-14 merge -sparse "$OUT/cov.profraw" -o "$OUT/cov.profdata"
  llvm-cov-14 report "$bin" -instr-profile="$OUT/cov.profdata" src/io/safetensors_header.cpp
  echo "uncovered lines: llvm-cov-14 show $bin -instr-profile=$OUT/cov.profdata src/io/safetensors_header.cpp"
}

install_missing
mkdir -p "$OUT/corpus" "$OUT/artifacts"
make_seeds
SOURCES=(src/io/safetensors_header.cpp src/util/strings.cpp tests/fuzz/fuzz_safetensors_header.cpp)
if [ "$SECONDS_TO_RUN" = coverage ]; then
  coverage
  exit 0
fi
BIN="$OUT/fuzz_safetensors_header"
if [ ! -x "$BIN" ] || [ -n "$(find "${SOURCES[@]}" src/io/safetensors_header.h -newer "$BIN")" ]; then
  echo "fuzz: building $BIN"
  "$CXX" -std=c++17 -g -O1 -Wall -Wextra -Isrc \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "${SOURCES[@]}" -o "$BIN"
fi
echo "fuzz: running for ${SECONDS_TO_RUN}s"
exec "$BIN" "$OUT/corpus" "$OUT/seeds" \
  -dict=tests/fuzz/safetensors.dict -max_len=4096 -max_total_time="$SECONDS_TO_RUN" \
  -artifact_prefix="$OUT/artifacts/" -print_final_stats=1 "$@"
