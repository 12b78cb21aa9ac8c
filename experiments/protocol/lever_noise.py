"""How far is each lever's lead from the selection split's noise? A paired bootstrap over the split's rows.

`distil --lever-seeds N` keeps a lever when the mean of its N seeds' selection scores beats the best recipe
so far. Seeds average out the training noise, but every candidate is scored on the same 1,377 sentences: a
lead can still be this sample's, not the recipe's. This reads each candidate's int8 labels on the selection
split (kept by distil for the slice table), averages correctness over its seeds row by row, and resamples the
rows (the same draw for both sides) to put a 95 % interval on each lever's lead over the recipe it was
weighed against: the interval every distil report now prints (`tfdistil.metrics.lead_interval`), here for a
run made before it did, and beside another run's recipe. It trains nothing and opens no test file.

    python experiments/protocol/lever_noise.py runs/sst2-distil-m4-seeds \
        --also runs/sst2-distil-m4-vocab:bilstm_attn-ei-vocab-decay
"""
import argparse
import json
import os
import sys

import numpy as np

from tfdistil.metrics import lead_interval

LEVERS = ("-vocab", "-grown", "-soft", "-lr", "-decay", "-preconv", "-disagree", "-kl", "-ema", "-more", "-composed")
LABELS = "selection_labels.npy"  # tfdistil.distil.steps.SELECTION_LABELS


def stage(run, name):
    with open(os.path.join(run, "stages", f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)["result"]


def seeds_of(run, name):
    """A candidate's seed records: seed 0 as `candidate-NAME`, then `candidate-NAME-sK` (--lever-seeds) or
    `seed-K` (a run whose chosen recipe trained its seeds after the choice)."""
    out, k = [stage(run, f"candidate-{name}")], 1
    while True:
        for n in (f"candidate-{name}-s{k}", f"seed-{k}"):
            p = os.path.join(run, "stages", f"{n}.json")
            if os.path.isfile(p) and stage(run, n)["name"] == name:
                out.append(stage(run, n))
                break
        else:
            return out
        k += 1


def labels(records):
    """Each seed's int8 labels on the selection split, as distil kept them."""
    return [np.load(os.path.join(r["run"], LABELS)) for r in records]


def lead(ahead, behind, gold, k, draws):
    """The same interval the distil report gives (tfdistil.metrics.lead_interval), in points."""
    r = lead_interval(gold, ahead, behind, k, "accuracy", draws)
    return r["value"], r["ci95"][0], r["ci95"][1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", help="a finished distil --out with --lever-seeds")
    ap.add_argument("--also", action="append", default=[], metavar="RUN:NAME",
                    help="another run's recipe (same selection split) to set beside the chosen one")
    ap.add_argument("--draws", type=int, default=2000)
    a = ap.parse_args(argv)
    if not os.path.isfile(os.path.join(a.run, "report.json")):
        sys.exit(f"error: {a.run}: no report.json (not a finished distil run)")
    with open(os.path.join(a.run, "report.json"), encoding="utf-8") as f:
        report = json.load(f)
    names = stage(a.run, "splits")["label_names"]  # the order of the model's outputs
    with open(os.path.join(a.run, "data", "selection.jsonl"), encoding="utf-8") as f:
        gold = np.array([names.index(json.loads(line)["label"]) for line in f])
    k = len(names)
    rows = {c["name"]: labels(seeds_of(a.run, c["name"])) for c in report["candidates"]}
    acc = {n: np.mean([np.mean(m == gold) for m in ms]) for n, ms in rows.items()}
    n_seeds = {c["name"]: len(seeds_of(a.run, c["name"])) for c in report["candidates"]}
    print(f"{a.run}: {len(gold)} selection rows, {a.draws} paired bootstrap draws over them\n")
    print("| lever | weighed against | seeds | lead (points) | 95 % interval | kept |")
    print("| --- | --- | ---: | ---: | --- | --- |")
    best = None
    for c in report["candidates"]:
        name = c["name"]
        if not name.endswith(LEVERS):  # a base candidate (the tuner's, with and without teacher embeddings)
            best = name if best is None or acc[name] > acc[best] else best
            continue
        m, lo, hi = lead(rows[name], rows[best], gold, k, a.draws)
        kept = acc[name] > acc[best]
        print(f"| {name[len(best):] or name} | {best} | {n_seeds[name]} | {m:+.2f} | {lo:+.2f} to {hi:+.2f} | "
              f"{'yes' if kept else 'no'} |")
        best = name if kept else best
    chosen = report["chosen"]["name"]
    for spec in a.also:
        run, name = spec.split(":", 1)
        m, lo, hi = lead(rows[chosen], labels(seeds_of(run, name)), gold, k, a.draws)
        print(f"\nthe chosen {chosen} against {name} ({run}, {len(seeds_of(run, name))} seeds): "
              f"{m:+.2f} points, 95 % interval {lo:+.2f} to {hi:+.2f}")


if __name__ == "__main__":
    main()
