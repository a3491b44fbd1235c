#!/usr/bin/env bash
# End-to-end kernel effect on the GPU: `train` on the 0.6B-shaped config (2 layers of
# Qwen3-0.6B's shapes, vocab 151,936) on cuda, include_kernels false vs auto, bf16 and fp32,
# packed text (1024-token rows from the shipped corpus and tokenizer). Prints a markdown table
# of tokens/s and peak GPU memory (the CUDA caching allocator's peak, from metrics.jsonl) and
# writes gpu-e2e.json into $OUT. Needs the build of scripts/gpu-check.sh (build-gpu).
#   OUT=/tmp/e2e bash scripts/gpu-e2e.sh [steps]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${FUSEBOX_GPU_BUILD_DIR:-build-gpu}
OUT=$(realpath -m "${OUT:-/tmp/fusebox-gpu-e2e}")
STEPS=${1:-40}
mkdir -p "$OUT"
rows=()
for bf16 in true false; do
  for kernels in false auto; do
    run="$OUT/run-bf16_$bf16-$kernels"
    "$BUILD/bin/train" --config configs/qwen3_0.6b_shape.yaml kernel_config.device=cuda \
      kernel_config.include_kernels=$kernels bf16=$bf16 max_steps=$STEPS logging_steps=$STEPS \
      warmup_steps=2 eval_dataset= eval_steps=0 train_dataset=configs/data/tiny_stories_train.txt \
      tokenizer=tests/fixtures/tokenizer packing=true cutoff_len=1024 micro_batch_size=8 \
      progress_bar=false overwrite_output_dir=true output_dir="$run" >"$run.log" 2>&1 ||
      { echo "train failed (bf16=$bf16, kernels=$kernels); tail of $run.log:"; tail -20 "$run.log"; continue; }
    rows+=("$(python3 - "$run/metrics.jsonl" "$bf16" "$kernels" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
last = lines[-1]
print(json.dumps({"bf16": sys.argv[2] == "true", "include_kernels": sys.argv[3],
                  "steps": last["step"], "loss": last["loss"],
                  "tokens_per_second": last["tokens_per_second"],
                  "cuda_peak_bytes": last.get("cuda_memory_peak_allocated_bytes", 0)}))
PY
)")
  done
done
printf '%s\n' "${rows[@]}" >"$OUT/gpu-e2e.jsonl"
python3 - "$OUT/gpu-e2e.jsonl" "$OUT/gpu-e2e.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
json.dump(rows, open(sys.argv[2], "w"), indent=1)
name = lambda r: "bf16" if r["bf16"] else "fp32"
print("| precision | include_kernels | steps | final loss | tokens/s | peak GPU memory |")
print("|---|---|---|---|---|---|")
for r in rows:
    print(f"| {name(r)} | {r['include_kernels']} | {r['steps']} | {r['loss']:.4f} | "
          f"{r['tokens_per_second']:.0f} | {r['cuda_peak_bytes'] / 2**30:.2f} GiB |")
for bf16 in (True, False):
    ref = [r for r in rows if r["bf16"] == bf16 and r["include_kernels"] == "false"]
    ker = [r for r in rows if r["bf16"] == bf16 and r["include_kernels"] == "auto"]
    if ref and ker:
        print(f"{name(ref[0])}: auto vs false: tokens/s "
              f"{ker[0]['tokens_per_second'] / ref[0]['tokens_per_second']:.2f}x, peak memory "
              f"{ker[0]['cuda_peak_bytes'] / max(ref[0]['cuda_peak_bytes'], 1):.2f}x")
PY
