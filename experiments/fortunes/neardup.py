"""Is fortunes' selection split closer to the transfer set than dev is? (A leakage check.)

Why: on the vocabulary run the student trails its teacher by 2.0 accuracy points on selection and 7.2 on
dev (results/distil/fortunes-cortex-m4-more/report.md). If selection texts had near-copies in the text the
student trained on (train rows, or the unlabelled fortune files the teacher labelled), the selection vote
would flatter it. A text counts as near-copied when at least half of its 5-word shingles (lower case,
letters and digits) occur in one train or unlabelled text.

    python experiments/fortunes/neardup.py runs/fortunes-distil-vocab > experiments/fortunes/neardup.log
"""
import json
import re
import sys


def norm(t):
    return re.sub(r"[^a-z0-9 ]", "", t.lower()).split()


def shingles(w, k=5):
    return {" ".join(w[i:i + k]) for i in range(max(1, len(w) - k + 1))}


def main(run):
    rows = lambda p: [json.loads(line) for line in open(p, encoding="utf-8")]  # noqa: E731
    sources = {"train": [norm(r["text"]) for r in rows(f"{run}/data/train.jsonl")],
               "unlabelled": [norm(t) for t in open(f"{run}/transfer/unlabelled.tsv", encoding="utf-8").read().splitlines()[1:]]}
    index = {}
    for src, texts in sources.items():
        for i, w in enumerate(texts):
            for s in shingles(w):
                index.setdefault(s, set()).add((src, i))
    for split in ("selection", "dev"):
        texts = rows(f"{run}/data/{split}.jsonl")
        hits = {"train": 0, "unlabelled": 0, "either": 0}
        for r in texts:
            sh = shingles(norm(r["text"]))
            shared = {}
            for s in sh:
                for hit in index.get(s, ()):
                    shared[hit] = shared.get(hit, 0) + 1
            found = {src for (src, _), n in shared.items() if n / max(len(sh), 1) >= 0.5}
            for src in found:
                hits[src] += 1
            hits["either"] += bool(found)
        print(split, len(texts), {k: f"{v} ({100 * v / len(texts):.1f}%)" for k, v in hits.items()})


if __name__ == "__main__":
    main(sys.argv[1])
