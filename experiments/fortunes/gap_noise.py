"""Is an 11.3-point test gap what sampling noise makes of a 3.8-point selection gap?

On the selection split (500 rows) the chosen fortunes recipe's three seeds are 3.8 macro-F1 under
their teacher; on test (348 rows) the same three models are 11.3 under it (77.03 vs 65.72,
results/distil/fortunes-cortex-m4-vocab/test_read.json). Both are samples of the same task (make_fortunes_task.py splits each topic at
random). This draws 348-row samples, with replacement, from the selection split — a stand-in for "a
fresh 348-row sample of the task" — and scores the teacher and the recipe's three seeds on each:
how widely does the gap spread, and how often does it reach the test's?

That first question treats the selection split as the task itself, so it leaves out the selection
split's own sampling error: the fair question is how far apart the gaps on two independent samples of
the task fall (500 rows and 348 rows). The second part draws both from the selection split each time
and counts how often the two gaps differ by as much as selection and test do. Neither counts the
winner's curse (the recipe was chosen for its selection score, which flatters it by a point or so).
Reads the selection split, the teacher's logits on it and each seed's saved selection labels; never
test (its gap is the --test-gap already on record).

    python experiments/fortunes/gap_noise.py --distil runs/fortunes-distil-seeds --test-gap 11.31
"""
import argparse
import json
import os
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--distil", required=True, help="a finished `tfdistil distil` --out")
    ap.add_argument("--test-gap", type=float, required=True, help="the gap on test, in points (from its report)")
    ap.add_argument("--rows", type=int, default=348, help="rows a sample (the test file's)")
    ap.add_argument("--draws", type=int, default=5000)
    a = ap.parse_args()
    try:
        with open(os.path.join(a.distil, "report.json"), encoding="utf-8") as f:
            r = json.load(f)
        with open(os.path.join(a.distil, "stages", "logits.json"), encoding="utf-8") as f:
            logits_path = json.load(f)["result"]["path"]
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {a.distil}: not a finished distil run ({e})", file=sys.stderr)
        sys.exit(2)
    from tfdistil.data.splits import load_split
    from tfdistil.metrics import score
    from tfdistil.distil.steps import SELECTION_LABELS
    from tfdistil.distil.workdata import selection_data
    sel = load_split(selection_data(os.path.join(a.distil, "data")), "test")
    gold, k = np.asarray(sel.labels), len(sel.label_names)
    teacher = np.load(logits_path)["test_logits"].argmax(-1)  # the cache's "test" is the selection split
    students = [np.load(os.path.join(s["run"], SELECTION_LABELS)) for s in r["seeds"]]
    assert len(teacher) == len(gold) and all(len(s) == len(gold) for s in students)

    def gap(idx):
        return 100 * (score(gold[idx], teacher[idx], k) - np.mean([score(gold[idx], s[idx], k) for s in students]))

    rng = np.random.default_rng(0)
    whole = gap(np.arange(len(gold)))
    draws = np.array([gap(rng.integers(0, len(gold), a.rows)) for _ in range(a.draws)])
    lo, hi = np.percentile(draws, [2.5, 97.5])
    print(f"recipe {r['chosen']['name']}, seeds {[s['seed'] for s in r['seeds']]}; selection split {len(gold)} rows")
    print(f"gap on the whole selection split: {whole:.2f} macro-F1 points (teacher minus the recipe's mean)")
    print(f"{a.draws} samples of {a.rows} rows drawn from it: gap mean {draws.mean():.2f}, sd {draws.std(ddof=1):.2f}, "
          f"95 % between {lo:.2f} and {hi:.2f}")
    print(f"share of samples with a gap >= the test's {a.test_gap:.2f}: {np.mean(draws >= a.test_gap):.4f}")
    apart = np.array([gap(rng.integers(0, len(gold), a.rows)) - gap(rng.integers(0, len(gold), len(gold)))
                      for _ in range(a.draws)])
    seen = a.test_gap - whole
    print(f"two independent samples ({a.rows} and {len(gold)} rows), {a.draws} times: the {a.rows}-row gap minus the "
          f"{len(gold)}-row gap has sd {apart.std(ddof=1):.2f}; a difference >= the observed {seen:.2f}: "
          f"{np.mean(apart >= seen):.4f} of draws")


if __name__ == "__main__":
    main()
