#!/usr/bin/env python3
"""Where a per-token student's instructions go on the emulated Cortex-M4: a least-squares fit of
each sentence's count to (tokens x cost per token) + (cost of the head it used), over the committed
`firmware --per-token` runs (results/firmware/*-pertoken-*.json, every SST-2 test sentence).
The cost per head divided by its length is the cost of one head position.

    .venv/bin/python experiments/firmware/instruction_model.py [results/firmware/X-pertoken-test.json ...]
"""
import glob
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from tfdistil.edge.convert.stream_split import pick_head  # noqa: E402


def fit(result):
    kit = result["build"]["kit"]
    heads = kit["per_token"]["head_lengths"]
    tokens = np.array(result["per_sentence"]["tokens"])
    cost = np.array(result["per_sentence"]["invoke_instructions"], dtype=np.float64)
    used = np.array([pick_head(heads, n) for n in tokens])  # the firmware's own rule
    x = np.stack([tokens] + [used == h for h in heads], 1).astype(np.float64)
    coef, *_ = np.linalg.lstsq(x, cost, rcond=None)
    worst = float(np.abs(x @ coef - cost).max())
    return {"model": result["model"], "sentences": int(len(cost)), "mean_instructions": round(float(cost.mean())),
            "mean_tokens": round(float(tokens.mean()), 2), "mean_head_positions": round(float(used.mean()), 2),
            "per_token": round(float(coef[0])),
            "per_head_position": {str(h): round(float(c) / h) for h, c in zip(heads, coef[1:])},
            "head_share_of_mean": round(float(np.mean([coef[1 + heads.index(h)] for h in used]) / cost.mean()), 3),
            "worst_residual": round(worst)}


def main(paths):
    paths = paths or sorted(glob.glob(os.path.join(ROOT, "results", "firmware", "*-pertoken-*.json")))
    for path in paths:
        with open(path, encoding="utf-8") as f:
            print(json.dumps({"file": os.path.relpath(path, ROOT), **fit(json.load(f))}))


if __name__ == "__main__":
    main(sys.argv[1:])
