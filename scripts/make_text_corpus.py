#!/usr/bin/env python3
"""Writes the small text corpus configs/qwen3_text.yaml trains on: short made-up stories about
a workshop of machines, generated from a fixed grammar with a fixed seed, so the files are the
same on every machine and nothing is downloaded. Standard library only.

    python3 scripts/make_text_corpus.py configs/data

Outputs (documents separated by blank lines, the format of fusebox's *.txt datasets):
  tiny_stories_train.txt   about 300 KB
  tiny_stories_eval.txt    about 20 KB, drawn with another seed (held out)

The grammar is small on purpose: a tiny model can learn its structure within a minute, so the
training loss visibly goes down. Words come partly from the test tokenizer's training text
(tests/fixtures/tokenizer), so that tokenizer has merges for many of them.
"""
import os
import random
import sys

NAMES = ["Ada", "Boris", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana", "Ivo", "Jun"]
THINGS = ["model", "kernel", "tensor", "router", "checkpoint", "gradient", "expert", "vocabulary",
          "embedding", "softmax", "memory", "epoch", "seed", "batch", "token"]
ADJECTIVES = ["small", "fused", "quiet", "fast", "careful", "tired", "bright", "old", "new",
              "half", "precise", "patient"]
VERBS = ["trains", "checks", "writes", "reads", "packs", "shuffles", "saves", "measures",
         "learns", "fixes", "counts", "loads"]
PLACES = ["the workshop", "the cluster", "the library", "the garden", "the kitchen",
          "the old mill", "the station"]
TIMES = ["In the morning", "At noon", "Late at night", "After lunch", "Before the rain",
         "On Monday"]
FEELINGS = ["happy", "worried", "proud", "surprised", "calm", "curious"]


def plural(noun):
    if noun.endswith(("s", "x", "ch")):
        return noun + "es"
    if noun.endswith("y"):
        return noun[:-1] + "ies"
    return noun + "s"


def article(word):
    return "an" if word[0] in "aeiou" else "a"


def sentence(rng, who):
    kind = rng.randrange(7)
    thing = rng.choice(THINGS)
    adj = rng.choice(ADJECTIVES)
    if kind == 0:
        return f"{rng.choice(TIMES)}, {who} {rng.choice(VERBS)} the {adj} {thing}."
    if kind == 1:
        return f"{who} goes to {rng.choice(PLACES)} with {article(adj)} {adj} {thing}."
    if kind == 2:
        a, b = rng.randrange(1, 50), rng.randrange(1, 50)
        return f"{who} counts {a} and {b} {plural(thing)}, which makes {a + b}."
    if kind == 3:
        return f"The {thing} is {adj}, so {who} is {rng.choice(FEELINGS)}."
    if kind == 4:
        other = rng.choice(NAMES)
        return f"\"Where is the {thing}?\" asks {other}. \"In {rng.choice(PLACES)},\" says {who}."
    if kind == 5:
        return f"{who} {rng.choice(VERBS)} the {thing} and {rng.choice(VERBS)} the {rng.choice(THINGS)}."
    return f"It's {adj} work, but {who} doesn't stop."


def story(rng):
    who = rng.choice(NAMES)
    lines = [f"{who} and the {rng.choice(ADJECTIVES)} {rng.choice(THINGS)}"]
    body = " ".join(sentence(rng, who) for _ in range(rng.randint(3, 8)))
    lines.append(body)
    lines.append(f"At the end of the day, {who} is {rng.choice(FEELINGS)}.")
    return "\n".join(lines)


def write(path, seed, target_bytes):
    rng = random.Random(seed)
    docs, size = [], 0
    while size < target_bytes:
        d = story(rng)
        docs.append(d)
        size += len(d.encode("utf-8")) + 2
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n\n".join(docs) + "\n")
    print(f"wrote {path}: {len(docs)} documents, {size} bytes")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "configs/data"
    os.makedirs(out_dir, exist_ok=True)
    write(os.path.join(out_dir, "tiny_stories_train.txt"), 20240601, 300_000)
    write(os.path.join(out_dir, "tiny_stories_eval.txt"), 777, 20_000)


if __name__ == "__main__":
    main()
