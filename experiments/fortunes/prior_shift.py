"""Does the fortunes student lose macro-F1 by under-predicting the small topics, and does a logit
adjustment (Menon et al., 2021: subtract tau x log(class prior) from the logits) give it back?

Why: on the selection split the chosen student's small topics (education, food: 26-27 texts of 500)
have precision ~0.86 but recall ~0.45; it falls back to the large ones (computers, politics, science,
work). Macro-F1 weighs every topic alike, so recall lost on a small topic costs more than accuracy
shows. A per-class bias folds into the last Dense layer's bias, so it costs no flash and no time on
the board.

Reads only the distil run's train (for the priors), selection and dev splits; never test. Scores
each seed model of the chosen recipe (int8, LiteRT builtin kernels: the integer kernels TFLM and
tflite-runtime share) and prints macro-F1 / accuracy by tau, mean over seeds.

    python experiments/fortunes/prior_shift.py --distil runs/fortunes-distil-seeds \
        --json experiments/fortunes/prior_shift.json
"""
import argparse
import json
import os
import sys

import numpy as np

TAUS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--distil", required=True, help="a finished `tfdistil distil` --out")
    ap.add_argument("--json", help="write the table here")
    a = ap.parse_args()
    report = os.path.join(a.distil, "report.json")
    if not os.path.isfile(report):
        print(f"error: {report}: not found (a finished distil --out has one)", file=sys.stderr)
        sys.exit(2)
    with open(report, encoding="utf-8") as f:
        r = json.load(f)
    from tfdistil.data.splits import load_split
    from tfdistil.metrics import score
    from tfdistil.distil.workdata import selection_data, work_data
    from tfdistil.edge.host.evaluate import evaluate_tflite
    data = os.path.join(a.distil, "data")
    train = load_split(work_data(data), "train")
    k = len(train.label_names)
    prior = np.bincount(train.labels, minlength=k) / len(train.labels)
    splits = {"selection": (selection_data(data), "test"), "dev": (work_data(data), "dev")}
    rows = {name: {t: [] for t in TAUS} for name in splits}
    for seed in r["seeds"]:
        for name, (d, split) in splits.items():
            out = evaluate_tflite(seed["model"], d, split=split, keep_logits=True, slices=None)
            gold = np.asarray(load_split(d, split).labels)
            for t in TAUS:
                pred = (out["logits"] - t * np.log(prior)).argmax(-1)
                rows[name][t].append((score(gold, pred, k), float(np.mean(pred == gold))))
    table = {"distil": a.distil, "recipe": r["chosen"]["name"], "seeds": [s["seed"] for s in r["seeds"]],
             "prior": dict(zip(train.label_names, prior.round(4).tolist())), "rows": []}
    print(f"recipe {r['chosen']['name']}, seeds {table['seeds']}; train priors "
          + ", ".join(f"{n} {p:.3f}" for n, p in zip(train.label_names, prior)))
    print("| tau | selection macro-F1 | selection acc | dev macro-F1 | dev acc |\n| ---: | ---: | ---: | ---: | ---: |")
    for t in TAUS:
        row = {"tau": t}
        for name in splits:
            v = np.asarray(rows[name][t]) * 100
            row[name] = {"macro_f1": [round(float(v[:, 0].mean()), 2), round(float(v[:, 0].std(ddof=1)), 2)],
                         "accuracy": [round(float(v[:, 1].mean()), 2), round(float(v[:, 1].std(ddof=1)), 2)]}
        table["rows"].append(row)
        cell = lambda name, m: f"{row[name][m][0]:.2f} ± {row[name][m][1]:.2f}"  # noqa: E731
        print(f"| {t:g} | {cell('selection', 'macro_f1')} | {cell('selection', 'accuracy')} | "
              f"{cell('dev', 'macro_f1')} | {cell('dev', 'accuracy')} |")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(table, f, indent=1)


if __name__ == "__main__":
    main()
