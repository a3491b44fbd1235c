#!/usr/bin/env bash
# On the GPU machine (torch 2.11 + transformers): builds fusebox against the CUDA libtorch,
# trains the default config briefly, saves a checkpoint, and checks that transformers loads
# it and computes the same logits as `score`. Results go to ${OUT:-/tmp/fusebox-out}.
#   bash scripts/gpu-roundtrip.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${OUT:-/tmp/fusebox-out}
mkdir -p "$OUT"
PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" \
  -DFUSEBOX_BUILD_BENCHMARKS=OFF > "$OUT/cmake.log" 2>&1 || { tail -40 "$OUT/cmake.log"; exit 1; }
ninja -C build-gpu > "$OUT/build.log" 2>&1 || { grep -E "error|Error" -A3 "$OUT/build.log" | head -60; exit 1; }
grep -c warning "$OUT/build.log" | xargs echo "build warnings:"

ckpt="$OUT/ckpt"
./build-gpu/bin/train --config configs/qwen3.yaml max_steps=300 eval_steps=0 logging_steps=100 \
  kernel_config.device=cpu output_dir="$ckpt" 2>&1 | tail -4
python3 - "$ckpt" "$OUT" <<'PY'
import json, sys, torch
from transformers import AutoModelForCausalLM
ckpt, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
ids = torch.randint(0, 256, (2, 14))
json.dump({"input_ids": ids.tolist()}, open(f"{out}/ids.json", "w"))
model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32, attn_implementation="eager")
with torch.no_grad():
    res = model(input_ids=ids, labels=ids)
json.dump({"loss": float(res.loss), "logits": res.logits.tolist()}, open(f"{out}/hf.json", "w"))
print("transformers loaded", type(model).__name__, "loss", float(res.loss))
PY
./build-gpu/bin/score --model "$ckpt" --input-ids "$OUT/ids.json" --output "$OUT/fusebox.json" \
  --device cpu --include-kernels auto 2>&1 | tail -2
python3 - "$OUT" <<'PY'
import json, sys, torch
out = sys.argv[1]
a, b = json.load(open(f"{out}/fusebox.json")), json.load(open(f"{out}/hf.json"))
d = (torch.tensor(a["logits"]) - torch.tensor(b["logits"])).abs().max().item()
print(f"round trip: max |logits fusebox - transformers| = {d:.3g}; loss {a['loss']:.6f} vs {b['loss']:.6f}")
sys.exit(0 if d <= 1e-4 and abs(a["loss"] - b["loss"]) <= 1e-4 * abs(b["loss"]) else 1)
PY
