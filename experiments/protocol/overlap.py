"""Do the held-out files share texts with what trains? Word for word, as `distil`'s test read counts it
(`workdata.seen_before`): SST-2's dev and test against its train file, the fortunes task's dev.csv and
test.csv against train.csv and unlabelled.txt. Reads texts only (no labels, no model).

    python experiments/protocol/overlap.py > experiments/protocol/logs/overlap.log
"""
import csv, sys
from tfdistil.transfer.augment import normalise
def tsv(p): return [r["sentence"] for r in csv.DictReader(open(p, encoding="utf-8"), delimiter="\t", quoting=csv.QUOTE_NONE)]
def col(p): return [r["text"] for r in csv.DictReader(open(p, encoding="utf-8"))]
d = "../shared/data/sst2"
train = {normalise(t) for t in tsv(f"{d}/train.tsv")}
for name in ("dev", "test"):
    xs = tsv(f"{d}/{name}.tsv"); n = sum(normalise(t) in train for t in xs)
    print(f"sst2 {name}: {n} of {len(xs)} texts occur word for word in train.tsv")
f = "tasks/fortunes"
known = {normalise(t) for t in col(f"{f}/train.csv")} | {normalise(t.strip()) for t in open(f"{f}/unlabelled.txt", encoding="utf-8")}
for name in ("dev", "test"):
    xs = col(f"{f}/{name}.csv"); n = sum(normalise(t) in known for t in xs)
    print(f"fortunes {name}.csv: {n} of {len(xs)} texts occur word for word in train.csv or unlabelled.txt")
