"""Does training the <unk> embedding (word dropout) help on text full of unknown words?

With min_freq 1 every training word is in the vocabulary, so without word dropout
the <unk> row keeps its random initial vector and every unknown word at test time
injects noise. This script distils one student twice, identical but for
`--word-dropout` (0 vs RATE), and measures both on:
- SST-2 test as is;
- the test sentences that hold at least one word the vocabulary lacks (natural OOV);
- SST-2 test with 10 / 20 / 30 % of its known words replaced by <unk> (fixed seed),
  standing in for input from another domain or with many typos.

    python experiments/ablations/word_dropout.py [--student cnn] [--rate 0.1] [--epochs 20]

writes experiments/ablations/word_dropout_STUDENT.json; runs go to runs/.
"""
import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get("TFDISTIL_DATA", os.path.join(ROOT, "..", "shared", "data", "sst2"))


def accuracies(run_dir, data):
    from tfdistil.data.splits import load_split
    from tfdistil.training.batches import drop_words, predict_logits
    from tfdistil.training.fit import load_run
    cfg, vocab, student = load_run(run_dir)
    test = load_split(data, "test")
    ids = vocab.encode_batch(test.sentences)
    unpadded = [vocab.encode(t, pad=False) for t in test.sentences]
    has_oov = np.array([1 in row for row in unpadded])

    def acc(token_ids, rows=slice(None)):
        pred = predict_logits(student, cfg.student, token_ids).argmax(-1)
        return round(float((pred[rows] == test.labels[rows]).mean()), 6)

    out = {"test": acc(ids), "test_oov_sentences": acc(ids, has_oov), "n_oov_sentences": int(has_oov.sum()),
           "n_test": len(test)}
    for rate in (0.1, 0.2, 0.3):
        out[f"test_unk_{int(rate * 100)}pct"] = acc(drop_words(ids, rate, np.random.default_rng(1234)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--student", default="cnn")
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import tfdistil
    rows = []
    for rate in (0.0, args.rate):
        cfg = tfdistil.Config(student=args.student, distill=True, epochs=args.epochs, seed=args.seed,
                              word_dropout=rate)
        # Without word dropout this is `tfdistil fit --student S --distill` (README command (a) for the
        # CNN): the same folder name, so a finished run of that command is reused, not retrained.
        name = f"{args.student}-distill-s{args.seed}" if rate == 0 and args.epochs == 20 else \
            f"word-dropout-{args.student}-{rate:g}-s{args.seed}"
        out = os.path.join(ROOT, "runs", name)
        metrics = tfdistil.fit(cfg, DATA, out, log=lambda m: print(m, file=sys.stderr, flush=True))
        row = {"word_dropout": rate, "run": os.path.relpath(out, ROOT), "best_epoch": metrics["best_epoch"],
               "dev_accuracy": metrics["dev_accuracy"], **accuracies(out, DATA)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"command": "python experiments/ablations/word_dropout.py " + " ".join(sys.argv[1:]), "student": args.student,
              "distill": True, "seed": args.seed, "epochs": args.epochs,
              "unk_replacement": "known test words replaced by <unk> with numpy default_rng(1234)", "runs": rows}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"word_dropout_{args.student}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(result, f, indent=2)
    os.replace(path + ".tmp", path)
    keys = [k for k in rows[0] if k.startswith("test")]
    print("\n| word dropout | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for r in rows:
        print(f"| {r['word_dropout']:g} | " + " | ".join(f"{100 * r[k]:.2f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
