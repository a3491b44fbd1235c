#!/usr/bin/env bash
# End-to-end kernel effect: `train` on the same config with include_kernels false and auto,
# tokens/s and peak RSS, for the dense default, the MoE config and the 0.6B-shaped config.
#   scripts/bench-e2e.sh [build-dir]    (prints a markdown table; writes bench-e2e.json)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${1:-build}
out=$(mktemp -d)
rows=()
json="["
for cfg in qwen3 qwen3_moe qwen3_0.6b_shape; do
  steps=300; [ "$cfg" = qwen3_0.6b_shape ] && steps=20
  for kernels in false auto; do
    log="$out/$cfg-$kernels.log"
    "$BUILD/bin/train" --config "configs/$cfg.yaml" max_steps=$steps logging_steps=$steps \
      eval_steps=0 eval_dataset= output_dir="$out/ckpt" overwrite_output_dir=true \
      kernel_config.include_kernels=$kernels \
      > "$log" 2>&1
    line=$(grep "trained .* steps" "$log")
    tps=$(sed -E 's/.*\(([0-9]+) tokens\/s.*/\1/' <<<"$line")
    rss=$(sed -E 's/.*peak RSS ([0-9.]+ [KMG]iB).*/\1/' <<<"$line")
    rows+=("| $cfg | $kernels | $steps | $tps | $rss |")
    json+="{\"config\":\"$cfg\",\"include_kernels\":\"$kernels\",\"steps\":$steps,\"tokens_per_s\":$tps,\"peak_rss\":\"$rss\"},"
  done
done
echo "${json%,}]" > bench-e2e.json
echo "| config | include_kernels | steps | tokens/s | peak RSS |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
rm -rf "$out"
