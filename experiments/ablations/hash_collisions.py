#!/usr/bin/env python3
"""How much a hashed vocabulary (`--hash-buckets N`) merges on a training set: for each N, the
share of train tokens whose word shares its bucket with a more frequent word (those lose their
own embedding row), against the share a top-N word table maps to <unk>.

    .venv/bin/python experiments/ablations/hash_collisions.py --data ../shared/data/sst2 8192 16384 32768
"""
import argparse
import os
import sys
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("buckets", nargs="+", type=int)
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "sst2"))
    args = p.parse_args(argv)
    from tfdistil.data.splits import load_split
    from tfdistil.data.tokenizer import hashed_id, split_words
    counts = Counter(w for s in load_split(args.data, "train").sentences for w in split_words(s))
    total = sum(counts.values())
    ranked = sorted(counts.values(), reverse=True)
    print(f"{len(counts):,} distinct train words, {total:,} train tokens")
    for n in args.buckets:
        buckets = {}
        for word, c in counts.items():
            buckets.setdefault(hashed_id(word, n), []).append(c)
        merged = sum(sum(sorted(cs)[:-1]) for cs in buckets.values())
        unk = sum(ranked[n - 2:])  # a table of n ids holds <pad>, <unk> and the n - 2 most frequent words
        print(f"{n:>6} ids: hashed, {100 * merged / total:.1f} % of train tokens share a bucket with a more "
              f"frequent word ({len(buckets):,} buckets used); a top-{n - 2} word table maps "
              f"{100 * unk / total:.1f} % to <unk>")


if __name__ == "__main__":
    main()
