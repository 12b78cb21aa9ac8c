#!/usr/bin/env python3
"""Record every committed int8 model's test accuracy with LiteRT's builtin kernels (and XNNPACK's).

    python experiments/runtimes/record_int8_kernels.py [--data ../shared/data/sst2] [--out experiments/runtimes/int8_kernels.json]

Why: the int8 accuracies in results.json were measured with LiteRT's default XNNPACK
delegate, which requantizes in float32. tflite-runtime 2.14 (Raspberry Pi OS) does not
delegate the attention student's 3-D FULLY_CONNECTED to XNNPACK, so a Pi computes the
builtin kernels' outputs, and 1-3 of 1,821 labels differ from the recorded figure. The
builtin kernels are what LiteRT (`kernels="builtin"`), tflite-runtime and the Pi runner
share bit for bit, so they are the recorded int8 figure from now on; the XNNPACK figure is
kept beside it (`tflite_int8_litert_xnnpack_test_accuracy`) with the labels that differ.

Writes experiments/runtimes/int8_kernels.json, updates results/results.json (the run of each committed
model) and, for a committed model outside results.json, its eval_int8_litert_test.json.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfdistil.data.splits import load_split  # noqa: E402
from tfdistil.data.vocab import Vocab  # noqa: E402
from tfdistil.edge.host.evaluate import LiteRTRunner, evaluate_tflite, read_model  # noqa: E402
from tfdistil.files import atomic_write_json  # noqa: E402


def labels(model_path, vocab, sentences, kernels):
    """Labels on every sentence, and the p50 ms per sentence (1 thread, after 10 warm-up calls)."""
    runner = LiteRTRunner(read_model(model_path), kernels=kernels)
    ids = vocab.encode_batch(sentences, runner.max_len)
    for i in range(10):
        runner(ids[i:i + 1])
    out, times = [], []
    for i in range(len(ids)):
        t0 = time.perf_counter()
        out.append(int(np.argmax(runner(ids[i:i + 1]))))
        times.append(time.perf_counter() - t0)
    return np.array(out), round(float(np.percentile(times, 50)) * 1e3, 4)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "sst2"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "int8_kernels.json"))
    args = ap.parse_args()
    test = load_split(args.data, "test")
    rows = []
    for folder in sorted(os.listdir(os.path.join(ROOT, "results", "models"))):
        d = os.path.join("results", "models", folder)
        for name in sorted(n for n in os.listdir(os.path.join(ROOT, d)) if n.endswith("_int8_L64.tflite")):
            model = os.path.join(d, name)
            vocab = Vocab.load(os.path.join(ROOT, d, "vocab.json"))
            by_kernels, ms = {}, {}
            for k in ("builtin", "xnnpack"):
                by_kernels[k], ms[k] = labels(os.path.join(ROOT, model), vocab, test.sentences, k)
            row = {"model": model, "n": len(test),
                   **{f"litert_{k}_test_accuracy": float(np.mean(v == test.labels)) for k, v in by_kernels.items()},
                   **{f"litert_{k}_ms_p50": v for k, v in ms.items()},
                   "labels_differing": [int(i) for i in np.flatnonzero(by_kernels["builtin"] != by_kernels["xnnpack"])]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    update_results(rows, args.data)
    atomic_write_json(args.out, {"command": "python experiments/runtimes/record_int8_kernels.py", "split": "test",
                                 "latency": "p50 ms per sentence, batch 1, 1 thread, this host", "models": rows})
    moved = [r for r in rows if r["labels_differing"]]
    print(f"{len(rows)} models; XNNPACK and builtin kernels differ in {len(moved)} of them "
          f"({sum(len(r['labels_differing']) for r in moved)} labels in all)")


def update_results(rows, data):
    """results.json records the builtin-kernel accuracy; the XNNPACK one stays beside it."""
    path = os.path.join(ROOT, "results", "results.json")
    with open(path) as f:
        runs = json.load(f)
    by_model = {r["model"]: r for r in rows}
    recorded = set()
    for run in runs:
        r = by_model.get(run.get("tflite_int8"))
        if r is None:
            continue
        recorded.add(r["model"])
        run["tflite_int8_litert_xnnpack_test_accuracy"] = r["litert_xnnpack_test_accuracy"]
        run["tflite_int8_litert_test_accuracy"] = r["litert_builtin_test_accuracy"]
        run["tflite_int8_litert_kernels"] = "builtin"
        if run.get("tflite_int8_test_runtime") == "litert":
            run["tflite_int8_test_accuracy"] = r["litert_builtin_test_accuracy"]
    atomic_write_json(path, runs)
    for r in rows:  # a committed model with no run in results.json keeps its own record
        if r["model"] not in recorded:
            result = evaluate_tflite(os.path.join(ROOT, r["model"]), data, "test", "litert", kernels="builtin")
            result["model"] = r["model"]
            atomic_write_json(os.path.join(ROOT, os.path.dirname(r["model"]), "eval_int8_litert_test.json"), result)


if __name__ == "__main__":
    main()
