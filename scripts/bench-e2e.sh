#!/usr/bin/env bash
# End-to-end kernel effect: `train` on the same config with include_kernels false and auto,
# tokens/s and peak RSS, for the dense default, the MoE config and the 0.6B-shaped config (once on
# its short addition samples, once on packed 1024-token rows of the shipped text corpus, where
# the 151,936-wide logits are big enough to matter).
#   scripts/bench-e2e.sh [build-dir]    (prints a markdown table; writes bench-e2e.json)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${1:-build}
out=$(mktemp -d)
rows=()
json="["
# name | config | steps | extra overrides
cases=(
  "qwen3|qwen3|300|"
  "qwen3_moe|qwen3_moe|300|"
  "qwen3_0.6b_shape|qwen3_0.6b_shape|20|"
  "qwen3_0.6b_shape_packed|qwen3_0.6b_shape|8|train_dataset=configs/data/tiny_stories_train.txt tokenizer=tests/fixtures/tokenizer packing=true cutoff_len=1024 micro_batch_size=2 warmup_steps=1"
)
for case in "${cases[@]}"; do
  IFS='|' read -r name cfg steps extra <<<"$case"
  for kernels in false auto; do
    log="$out/$name-$kernels.log"
    # shellcheck disable=SC2086  # $extra is a list of key=value words
    "$BUILD/bin/train" --config "configs/$cfg.yaml" max_steps=$steps logging_steps=$steps \
      eval_steps=0 eval_dataset= output_dir="$out/ckpt" overwrite_output_dir=true \
      progress_bar=false save_steps=0 kernel_config.include_kernels=$kernels $extra \
      > "$log" 2>&1 || { echo "train failed ($name, $kernels):"; tail -20 "$log"; exit 1; }
    line=$(grep "trained .* steps" "$log")
    tps=$(sed -E 's/.*\(([0-9]+) tokens\/s.*/\1/' <<<"$line")
    rss=$(sed -E 's/.*peak RSS ([0-9.]+ [KMG]iB).*/\1/' <<<"$line")
    rows+=("| $name | $kernels | $steps | $tps | $rss |")
    json+="{\"config\":\"$name\",\"include_kernels\":\"$kernels\",\"steps\":$steps,\"tokens_per_s\":$tps,\"peak_rss\":\"$rss\"},"
  done
done
echo "${json%,}]" > bench-e2e.json
echo "| config | include_kernels | steps | tokens/s | peak RSS |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
rm -rf "$out"
