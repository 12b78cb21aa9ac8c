#!/usr/bin/env python3
"""classify.py over several models in one process: what the Pi checks run under emulation.

    python classify_many.py --tsv test.tsv MODEL_DIR [MODEL_DIR ...]
    python classify_many.py MODEL_DIR=ITS.tsv [MODEL_DIR=ITS.tsv ...]

Each MODEL_DIR holds one `*_int8_*.tflite` (or a single `.tflite`) and its `vocab.json`; `=TSV`
gives that model its own sentences instead of --tsv's. For each
model it prints one JSON line: {"model": MODEL_DIR, "runtime": ..., "lines": [...], "seconds": ...},
where `lines` are exactly what `classify.py MODEL --vocab vocab.json --tsv test.tsv` prints
(label<TAB>P(positive)[<TAB>name]<TAB>sentence), made by the same functions (classify.Classifier, classify.classify_rows).
Why one process: under qemu, starting Python and importing numpy and a runtime costs seconds,
paid once here instead of once per model. Needs only classify.py beside it.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import classify  # noqa: E402  (beside this file, on the Pi as in the repository)


def model_in(folder):
    names = sorted(n for n in os.listdir(folder) if n.endswith(".tflite"))
    int8 = [n for n in names if "_int8_" in n]
    if len(int8 or names) != 1:
        classify.fail(f"{folder}: expected one .tflite, found {len(names)}")
    return os.path.join(folder, (int8 or names)[0])


def main(argv=None):
    ap = classify.OneLineParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+", help="model folders, each with one .tflite and its vocab.json "
                                                "(FOLDER=TSV: that model's own sentences)")
    ap.add_argument("--tsv", help="sentence<TAB>label file, as for classify.py --tsv")
    args = ap.parse_args(argv)
    for arg in args.folders:
        folder, _, tsv = arg.partition("=")
        if not (tsv or args.tsv):
            classify.fail(f"{folder}: no sentences: give --tsv or {folder}=FILE.tsv")
        t0 = time.time()
        clf = classify.Classifier(model_in(folder), os.path.join(folder, "vocab.json"))
        rows = classify.read_tsv(tsv or args.tsv, clf.labels)
        lines, correct, labelled = classify.classify_rows(clf, rows)
        print(json.dumps({"model": folder, "runtime": clf.it.runtime, "lines": lines,
                          "accuracy": correct / labelled if labelled else None,
                          "seconds": round(time.time() - t0, 2)}), flush=True)


if __name__ == "__main__":
    main()
