"""Do the held-out files share texts with what trains? Word for word, as `distil`'s test read counts it
(`workdata.seen_before`): SST-2's dev and test against its train file, the fortunes task's dev.csv and
test.csv against train.csv and unlabelled.txt. Reads texts only (no labels, no model).

    python experiments/protocol/overlap.py > experiments/protocol/logs/overlap.log
"""
import csv

from tfdistil.transfer.augment import normalise

SST2 = "../shared/data/sst2"
FORTUNES = "tasks/fortunes"


def tsv_sentences(path):
    with open(path, encoding="utf-8") as f:
        return [r["sentence"] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]


def csv_texts(path):
    with open(path, encoding="utf-8") as f:
        return [r["text"] for r in csv.DictReader(f)]


def report(task, name, texts, known, where):
    n = sum(normalise(t) in known for t in texts)
    print(f"{task} {name}: {n} of {len(texts)} texts occur word for word in {where}")


def main():
    train = {normalise(t) for t in tsv_sentences(f"{SST2}/train.tsv")}
    for name in ("dev", "test"):
        report("sst2", name, tsv_sentences(f"{SST2}/{name}.tsv"), train, "train.tsv")
    with open(f"{FORTUNES}/unlabelled.txt", encoding="utf-8") as f:
        unlabelled = [line.strip() for line in f]
    known = {normalise(t) for t in csv_texts(f"{FORTUNES}/train.csv") + unlabelled}
    for name in ("dev", "test"):
        report("fortunes", f"{name}.csv", csv_texts(f"{FORTUNES}/{name}.csv"), known, "train.csv or unlabelled.txt")


if __name__ == "__main__":
    main()
