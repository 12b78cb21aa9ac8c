"""How many of a text's wordpieces the student cannot see: <unk> rates of the fortunes student's
vocabulary on train, selection, the task's dev.csv and test.csv, for several vocabulary sizes and two
sources (the carved train rows only, as distil builds it today; or train plus the unlabelled in-domain
text the teacher labels anyway). test.csv is left out on purpose: this informs a choice.

Why: the int8 student trails its teacher by 4 points on selection, 9 on dev.csv and 14 on test. If the
held-out texts used pieces the student's table lacks far more often than train does, a vocabulary
drawn from the transfer text would be the lever to try. No model runs here.

    python experiments/fortunes/oov.py --distil runs/fortunes-distil --task tasks/fortunes \
        > experiments/fortunes/logs/oov.log
"""
import argparse
import os

import numpy as np

from tfdistil.data.splits import TaskFiles, load_split
from tfdistil.data.vocab import Vocab, read_wordpieces
from tfdistil.distil.steps import read_texts
from tfdistil.distil.workdata import selection_data, work_data


def unk_rate(vocab, texts):
    ids = vocab.encode_batch(texts)
    real = ids[ids != 0]
    return float(np.mean(real == 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--distil", required=True, help="a finished fortunes distil --out (its carved splits and teacher)")
    ap.add_argument("--task", required=True, help="the fortunes task folder (dev.csv, unlabelled.txt)")
    ap.add_argument("--max-len", type=int, default=128)
    a = ap.parse_args()
    data = os.path.join(a.distil, "data")
    train = load_split(work_data(data), "train")
    held = {"selection": load_split(selection_data(data), "test").sentences}
    held["dev.csv"] = load_split(TaskFiles(os.path.join(a.task, "dev.csv")), "train").sentences  # texts only
    unlabelled = read_texts(os.path.join(a.task, "unlabelled.txt"))
    pieces = read_wordpieces(os.path.join(a.distil, "teacher"))
    print(f"train rows {len(train)}, unlabelled rows {len(unlabelled)}; <unk> share of wordpieces (%)")
    print(f"{'vocabulary from':<22} {'size':>6} {'train':>7} " + " ".join(f"{k:>10}" for k in held))
    for source, texts in (("train", train.sentences), ("train + unlabelled", train.sentences + unlabelled)):
        for cap in (4000, 8000, 16000, None):
            v = Vocab.build(texts, a.max_len, 1, cap, train.label_names, 0, pieces)
            rates = [unk_rate(v, train.sentences)] + [unk_rate(v, t) for t in held.values()]
            print(f"{source:<22} {len(v):>6} " + " ".join(f"{100 * r:>7.2f}" if i == 0 else f"{100 * r:>10.2f}"
                                                      for i, r in enumerate(rates)))


if __name__ == "__main__":
    main()
