"""English text with no task in it: WordNet's glosses and examples, one text a line, for `--unlabelled`.

Why: a student learns which words lean to which topic only from text its teacher labelled, and
a task of a few thousand texts (fortunes: 2,250 train) shows it few words. WordNet (Debian's
`wordnet-base`, a package-registry install like `fortunes`) defines ~117,000 word senses in plain
sentences ("senator: a member of a senate") with usage examples; labelled by the task's teacher
they show the student its vocabulary in many more contexts. Nothing in it is a task text, and
the teacher, not a rule, decides every label.

    apt-get install wordnet-base
    python experiments/fortunes/wordnet_text.py --out tasks/fortunes/wordnet.txt [--limit N] [--seed 0]

Each synset gives "lemma, lemma: gloss" and each of its quoted examples its own line; duplicates
are dropped, the order is shuffled with --seed, and --limit keeps the first N.
"""
import argparse
import os
import re
import sys

import numpy as np

SOURCE = "/usr/share/wordnet"
PARTS = ("noun", "verb", "adj", "adv")


def synset_texts(line):
    """The texts of one data.* line: 'lemmas: definition' and each quoted example."""
    if line.startswith("  ") or "|" not in line:  # the licence header, or no gloss
        return []
    head, gloss = line.split("|", 1)
    fields = head.split()
    count = int(fields[3], 16)
    lemmas = [re.sub(r"\(.*\)$", "", w).replace("_", " ") for w in fields[4:4 + 2 * count:2]]
    examples = re.findall(r'"([^"]+)"', gloss)
    definition = " ".join(re.sub(r'"[^"]*"', "", gloss).split()).strip(" ;")
    texts = [f"{', '.join(dict.fromkeys(lemmas))}: {definition}"] if definition else []
    return texts + [" ".join(e.split()) for e in examples if len(e.split()) >= 3]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="text file to write (one text a line)")
    ap.add_argument("--source", default=SOURCE, help=f"WordNet dict folder (default {SOURCE})")
    ap.add_argument("--limit", type=int, default=0, help="keep the first N after shuffling (default all)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    paths = [os.path.join(args.source, f"data.{p}") for p in PARTS]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        print(f"error: {missing[0]}: not found (apt-get install wordnet-base)", file=sys.stderr)
        sys.exit(2)
    if os.path.exists(args.out):
        print(f"error: {args.out} exists; give a new --out", file=sys.stderr)
        sys.exit(2)
    texts = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                texts += synset_texts(line)
    texts = list(dict.fromkeys(t for t in texts if t))
    order = np.random.default_rng(args.seed).permutation(len(texts))
    kept = [texts[i] for i in order[:args.limit or None]]
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in kept))
    os.replace(tmp, args.out)
    print(f"{args.out}: {len(kept)} texts of {len(texts)} from {args.source}")


if __name__ == "__main__":
    main()
