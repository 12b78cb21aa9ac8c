"""Does an ensemble of teachers beat the best single one? Measured from their logits caches.

    python experiments/paper_attn_mpnet/teacher_ensemble.py CACHE_A.npz CACHE_B.npz [...] [--data DIR] [--out experiments/paper_attn_mpnet/teacher_ensemble.json]
           [--write ENSEMBLE.npz]

Each cache (from `tfdistil teacher logits`) is checked against the data (same rows, same sha256);
dev and test accuracy of every teacher and of the mean of their logits are printed and written.
`--write` also saves the mean as a cache a student can distil from (its header lists the members),
the same file `tfdistil teacher logits --teacher A --teacher B` writes by running the teachers.
"""
import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("caches", nargs="+")
    ap.add_argument("--data", default=os.environ.get("TFDISTIL_DATA", "../shared/data/sst2"))
    ap.add_argument("--out", default="experiments/paper_attn_mpnet/teacher_ensemble.json")
    ap.add_argument("--write", default=None, help="Also write the mean logits as a cache (.npz).")
    args = ap.parse_args()
    from tfdistil.data.splits import load_split
    from tfdistil.errors import UserError
    from tfdistil.teacher.logits_cache import CACHE_FORMAT, read_header, read_logits, write_cache
    if len(args.caches) < 2:
        sys.exit("error: name at least two caches")
    try:
        splits = {s: load_split(args.data, s) for s in ("train", "dev", "test")}
        logits = {c: {s: read_logits(c, s, splits[s].sha256, len(splits[s]))[0] for s in splits} for c in args.caches}
        headers = {c: read_header(c) for c in args.caches}
    except UserError as e:
        sys.exit(f"error: {e}")
    acc = lambda z, s: float(np.mean(z.argmax(-1) == splits[s].labels))
    rows = [{"cache": c, "teacher": headers[c].get("teacher"), **{f"{s}_accuracy": acc(logits[c][s], s)
                                                                  for s in ("dev", "test")}} for c in args.caches]
    mean = {s: np.mean([logits[c][s] for c in args.caches], axis=0) for s in splits}
    ensemble = {"members": args.caches, **{f"{s}_accuracy": acc(mean[s], s) for s in ("dev", "test")}}
    best = max(rows, key=lambda r: r["dev_accuracy"])
    result = {"command": "python experiments/paper_attn_mpnet/teacher_ensemble.py " + " ".join(sys.argv[1:]), "teachers": rows,
              "ensemble": ensemble, "best_single_on_dev": best["cache"],
              "ensemble_beats_best_single_on_dev": ensemble["dev_accuracy"] > best["dev_accuracy"]}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".tmp", "w") as f:
        json.dump(result, f, indent=2)
    os.replace(args.out + ".tmp", args.out)
    if args.write:
        header = {"format": CACHE_FORMAT, "teacher": " + ".join(h.get("teacher", "?") for h in headers.values()),
                  "teachers": [{"cache": c, "teacher": headers[c].get("teacher")} for c in args.caches],
                  "label_names": headers[args.caches[0]].get("label_names", ["0", "1"]),
                  "splits": {s: {"rows": len(splits[s]), "sha256": splits[s].sha256, "accuracy": acc(mean[s], s)}
                             for s in splits}}
        write_cache(args.write, header, mean)
    for r in rows + [{"cache": "mean of logits", **ensemble}]:
        print(f"{r['cache']}: dev {100 * r['dev_accuracy']:.2f}  test {100 * r['test_accuracy']:.2f}")


if __name__ == "__main__":
    main()
