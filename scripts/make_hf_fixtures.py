#!/usr/bin/env python3
"""Makes the transformers parity fixtures under tests/fixtures/hf/ (run on the GPU machine,
which has transformers and safetensors; everything is computed on the CPU in fp32).

Each fixture directory holds what transformers wrote (config.json, model.safetensors) and
expected.json: the input ids, the fp32 logits, the loss (labels = input_ids) and the L2 norm
of every parameter's gradient. fusebox's ctest loads each model and must match them.

    python3 scripts/make_hf_fixtures.py [--out tests/fixtures/hf]
"""
import argparse
import json
import os
import shutil

import torch
import transformers
from transformers import AutoModelForCausalLM

CASES = {
    # GQA 4/2, head_dim 24 != hidden/heads = 16, tied embeddings.
    "qwen3_tied_gqa": dict(model_type="qwen3", vocab_size=128, hidden_size=64,
                           intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, head_dim=24, tie_word_embeddings=True),
    # Plain multi-head attention, untied head, a 4.5x-style config.json (see below).
    "qwen3_untied_mha_legacy_config": dict(model_type="qwen3", vocab_size=128, hidden_size=48,
                                           intermediate_size=80, num_hidden_layers=2,
                                           num_attention_heads=3, num_key_value_heads=3,
                                           head_dim=16, tie_word_embeddings=False),
    # MoE: layer 0 dense (mlp_only_layers), layers 1-2 sparse, renormalised top-2 of 8,
    # router aux loss added to the loss.
    "qwen3_moe_norm_topk_aux": dict(model_type="qwen3_moe", vocab_size=128, hidden_size=64,
                                    intermediate_size=96, moe_intermediate_size=32,
                                    num_hidden_layers=3, num_attention_heads=4,
                                    num_key_value_heads=2, head_dim=16, num_experts=8,
                                    num_experts_per_tok=2, norm_topk_prob=True,
                                    mlp_only_layers=[0], decoder_sparse_step=1,
                                    output_router_logits=True, router_aux_loss_coef=0.01,
                                    tie_word_embeddings=False),
    # MoE: every second layer sparse (decoder_sparse_step 2), no renormalisation, top-3 of 4,
    # tied embeddings, no aux loss.
    "qwen3_moe_sparse_step_tied": dict(model_type="qwen3_moe", vocab_size=128, hidden_size=48,
                                       intermediate_size=64, moe_intermediate_size=24,
                                       num_hidden_layers=2, num_attention_heads=4,
                                       num_key_value_heads=1, head_dim=12, num_experts=4,
                                       num_experts_per_tok=3, norm_topk_prob=False,
                                       mlp_only_layers=[], decoder_sparse_step=2,
                                       output_router_logits=False, tie_word_embeddings=True),
}


def make_config(kw):
    kw = dict(kw, rms_norm_eps=1e-6, max_position_embeddings=256, initializer_range=0.08,
              attention_dropout=0.0, use_sliding_window=False)
    model_type = kw.pop("model_type")
    try:  # transformers 5.x keeps RoPE settings in rope_parameters
        return transformers.AutoConfig.for_model(
            model_type, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, **kw)
    except TypeError:
        return transformers.AutoConfig.for_model(model_type, rope_theta=10000.0, **kw)


def legacy_config(path):
    """Rewrites a 5.x config.json the way transformers 4.5x wrote it."""
    with open(path) as f:
        cfg = json.load(f)
    rope = cfg.pop("rope_parameters", None) or {}
    cfg["rope_theta"] = rope.get("rope_theta", cfg.get("rope_theta", 10000.0))
    cfg["rope_scaling"] = None
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg.pop("dtype")
    cfg["transformers_version"] = "4.51.0"
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="tests/fixtures/hf")
    args = parser.parse_args()
    torch.set_num_threads(4)
    for seed, (name, kw) in enumerate(sorted(CASES.items())):
        torch.manual_seed(1000 + seed)
        config = make_config(kw)
        model = AutoModelForCausalLM.from_config(config, attn_implementation="eager",
                                                 torch_dtype=torch.float32)
        with torch.no_grad():  # norms start at one; perturb them so their weights matter
            for pname, p in model.named_parameters():
                if "norm" in pname:
                    p.add_(0.1 * torch.randn_like(p))
        model.train()  # no dropout in Qwen3; train() keeps the aux-loss path like training
        ids = torch.randint(0, config.vocab_size, (2, 11), generator=torch.Generator().manual_seed(seed))
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        grads = {n: float(p.grad.norm()) for n, p in model.named_parameters() if p.grad is not None}
        target = os.path.join(args.out, name)
        shutil.rmtree(target, ignore_errors=True)
        model.save_pretrained(target, safe_serialization=True)
        if "legacy" in name:
            legacy_config(os.path.join(target, "config.json"))
        for extra in ("generation_config.json",):
            if os.path.exists(os.path.join(target, extra)):
                os.remove(os.path.join(target, extra))
        expected = {
            "input_ids": ids.tolist(),
            "loss": float(out.loss),
            "aux_loss": float(out.aux_loss) if getattr(out, "aux_loss", None) is not None else None,
            "logits": out.logits.detach().tolist(),
            "grad_norms": grads,
            "made_with": {"transformers": transformers.__version__, "torch": torch.__version__,
                          "device": "cpu", "dtype": "float32", "attn_implementation": "eager"},
        }
        with open(os.path.join(target, "expected.json"), "w") as f:
            json.dump(expected, f)
        size = sum(os.path.getsize(os.path.join(target, x)) for x in os.listdir(target))
        print(f"{name}: loss {float(out.loss):.6f} aux {expected['aux_loss']} "
              f"params {sum(p.numel() for p in model.parameters())} files {size/1024:.0f} KiB")


if __name__ == "__main__":
    main()
