#!/usr/bin/env python3
"""Makes tests/fixtures/tokenizer: a small byte-level BPE tokenizer.json of the kind Qwen ships,
and the ids the Hugging Face `tokenizers` library gives for a test corpus.

Run where `tokenizers` is installed (the GPU machine has it; nothing is downloaded):
    python3 scripts/make_tokenizer_fixture.py tests/fixtures/tokenizer

The tokenizer is built the way Qwen2/Qwen3's tokenizer.json is laid out -- NFC normaliser,
a Split pre-tokenizer with Qwen's regex followed by ByteLevel(use_regex=false), a BPE model
with merges, a ByteLevel decoder, and special tokens (<|endoftext|>, <|im_start|>, <|im_end|>)
-- but trained here on a generated corpus with a small vocabulary, so the fixture is tiny.

Outputs:
  tokenizer.json       the tokenizer
  cases.jsonl          one line per test string: {"text": ..., "ids": [...]} (no special tokens
                       added by a template; special tokens written inside text are matched)
  meta.json            versions and settings, for the record
"""
import json
import os
import random
import sys

import tokenizers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

# The pre-tokenizer pattern of Qwen2/Qwen3's tokenizer.json.
QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

WORDS = (
    "the model learns to add numbers and write text with kernels fused into one pass over memory "
    "tokens per second training loss gradient norm checkpoint resume attention rotary embedding "
    "mixture of experts router softmax cross entropy vocabulary packing epoch shuffle seed "
    "Qwen fusebox libtorch CUDA Hopper tensor bfloat16 float32 half precision it's don't we'll "
    "they're I'm you've he'd"
).split()
UNICODE = [
    "café", "naïve", "Zürich", "straße", "日本語のテキスト", "中文分词测试", "한국어 문장",
    "Привет мир", "γειά σου κόσμε", "مرحبا بالعالم", "emoji 😀🚀👍🏽", "math ∑∫√π≈≠",
    "tab\tseparated\tvalues", "e\u0301 (e + combining acute, NFC makes é)",
    "Å vs A\u030a", "full-width ＡＢＣ１２３", "nbsp\u00a0here", "zero\u200bwidth",
]


def make_corpus(rng, lines):
    out = []
    for _ in range(lines):
        kind = rng.random()
        if kind < 0.5:
            n = rng.randint(3, 14)
            line = " ".join(rng.choice(WORDS) for _ in range(n))
            if rng.random() < 0.3:
                line = line.capitalize() + rng.choice([".", "!", "?", ",", ";", ":"])
        elif kind < 0.7:
            a, b = rng.randint(0, 99999), rng.randint(0, 99999)
            line = f"{a}+{b}={a + b}"
        elif kind < 0.85:
            line = rng.choice(UNICODE) + " " + rng.choice(WORDS)
        else:
            line = "def f(x):\n    return x * 2  # code-ish\n\n" + rng.choice(WORDS)
        out.append(line)
    return out


def test_cases(rng):
    fixed = [
        "",
        " ",
        "hello",
        " hello world",
        "Hello, World!",
        "it's, we'll, they're, I'M, You'VE, HE'D",
        "12345678901234567890",
        "3.14159 and 2,718 and -42",
        "multiple   spaces   between",
        "trailing spaces   ",
        "   leading spaces",
        "line one\nline two\r\nline three\n\n\nafter blank lines",
        "tabs\t\tand\tspaces \t mixed",
        "punctuation!!! ??? ... --- ***",
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>",
        "text<|endoftext|>more text",
        "<|im_start|><|im_end|>",
        "a<|im_start",  # an incomplete special token is plain text
        "unknownwordsxyzzy qwertyuiop",
        "e\u0301t\u00e9",  # NFC changes the first pair
        "ﬁ ligature stays (NFC, not NFKC)",
    ] + UNICODE
    generated = make_corpus(rng, 60)
    # Random byte soup from printable and non-ASCII code points, to reach unseen byte pairs.
    soup = []
    for _ in range(20):
        cps = [rng.choice([rng.randint(0x20, 0x7E), rng.randint(0xA0, 0x24F), rng.randint(0x4E00, 0x4FFF),
                           rng.randint(0x1F300, 0x1F5FF), 0x0A, 0x20, 0x09])
               for _ in range(rng.randint(1, 40))]
        soup.append("".join(chr(c) for c in cps))
    return fixed + generated + soup


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/tokenizer"
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(1234)

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=1200, min_frequency=2, special_tokens=[],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(make_corpus(rng, 4000), trainer)
    # Qwen's special tokens come after the BPE vocabulary, as in the real file.
    tok.add_special_tokens(SPECIAL)
    tok.save(os.path.join(out_dir, "tokenizer.json"))

    reloaded = Tokenizer.from_file(os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "cases.jsonl"), "w", encoding="utf-8") as f:
        for text in test_cases(rng):
            ids = reloaded.encode(text, add_special_tokens=False).ids
            assert reloaded.decode(ids, skip_special_tokens=False) == normalizers.NFC().normalize_str(text), text
            f.write(json.dumps({"text": text, "ids": ids}, ensure_ascii=False) + "\n")
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump({"tokenizers": tokenizers.__version__, "vocab_size": reloaded.get_vocab_size(),
                   "pattern": QWEN_PATTERN, "special_tokens": SPECIAL,
                   "script": "scripts/make_tokenizer_fixture.py"}, f, indent=2)
    print("wrote", out_dir, "vocab", reloaded.get_vocab_size())


if __name__ == "__main__":
    main()
