#!/usr/bin/env bash
# The kernels' effect on generation speed: `generate` with include_kernels false and auto on
# the same model directory and prompt, greedy, a fixed number of new tokens; prints a markdown
# table of prefill time and decode tokens/s (medians of 3 runs each).
#   scripts/bench-generate.sh MODEL_DIR [max_new_tokens] [device] [dtype] [build-dir]
#   KERNEL_SETS="false auto cuda_fused_rope" scripts/bench-generate.sh ...   (one row per set)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MODEL=${1:?usage: scripts/bench-generate.sh MODEL_DIR [max_new_tokens] [device] [dtype] [build-dir]}
NEW=${2:-64}
DEVICE=${3:-cpu}
DTYPE=${4:-float32}
BUILD=${5:-build}
echo "| include_kernels | device | dtype | new tokens | prefill | decode tokens/s (median of 3) |"
echo "|---|---|---|---|---|---|"
for kernels in ${KERNEL_SETS:-false auto}; do
  rates=()
  prefill=""
  for run in 1 2 3; do
    # A prompt with no eos in reach: --max-new-tokens decides the length (eos is not a stop
    # here because the prompt's continuation is timed, not read).
    line=$("$BUILD/bin/generate" --model "$MODEL" --prompt "The model learns to add numbers" \
      --max-new-tokens "$NEW" --include-kernels "$kernels" --device "$DEVICE" --dtype "$DTYPE" \
      2>&1 >/dev/null | grep "generated")
    rates+=("$(sed -E 's/.*decode ([0-9]+) tokens\/s.*/\1/' <<<"$line")")
    prefill=$(sed -E 's/.*prefill ([^,]+),.*/\1/' <<<"$line")
    count=$(sed -E 's/.*generated ([0-9]+) tokens.*/\1/' <<<"$line")
  done
  median=$(printf '%s\n' "${rates[@]}" | sort -n | sed -n 2p)
  echo "| $kernels | $DEVICE | $DTYPE | $count | $prefill | $median |"
done
