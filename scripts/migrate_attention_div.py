#!/usr/bin/env python3
"""Rewrite the committed int8 attention flatbuffers without their int8 DIV, and re-measure them.

    python scripts/migrate_attention_div.py [--data ../shared/data/sst2] [--out results/migration_attention_div.json]

For every results/models/*/*.tflite that holds a DIV: `tfdistil.edge.convert.graph_rewrite` drops
the attention renormalisation (see its docstring), the file is replaced atomically, its
manifest updated (bytes, sha256, ops, and a `migrated` record), and the model is measured
again on the SST-2 test split in LiteRT and TFLite Micro, next to the old model's labels.
results/results.json then records the new int8 figures of the runs whose model changed
(the old ones kept under `before_div_removal`). Runs once: a model without DIV is skipped.
"""
import argparse
import glob
import hashlib
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfdistil.edge.host.evaluate import LiteRTRunner, evaluate_tflite  # noqa: E402
from tfdistil.edge.convert.export import op_list  # noqa: E402
from tfdistil.edge.convert.graph_rewrite import drop_attention_renormalisation  # noqa: E402
from tfdistil.data.splits import load_split  # noqa: E402
from tfdistil.data.vocab import Vocab  # noqa: E402
from tfdistil.files import atomic_write_bytes, atomic_write_json  # noqa: E402


def litert_labels(model_bytes, vocab, sentences):
    runner = LiteRTRunner(model_bytes)
    ids = vocab.encode_batch(sentences, runner.max_len)
    return np.array([int(np.argmax(runner(ids[i:i + 1]))) for i in range(len(ids))])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "sst2"))
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "migration_attention_div.json"))
    args = ap.parse_args()
    test = load_split(args.data, "test")
    done = []
    for path in sorted(glob.glob(os.path.join(ROOT, "results", "models", "*", "*.tflite"))):
        old = open(path, "rb").read()
        if "DIV" not in op_list(old):
            continue
        rel = os.path.relpath(path, ROOT)
        vocab = Vocab.load(os.path.join(os.path.dirname(path), "vocab.json"))
        new, divs = drop_attention_renormalisation(old)
        old_labels = litert_labels(old, vocab, test.sentences)
        new_labels = litert_labels(new, vocab, test.sentences)
        atomic_write_bytes(path, new)
        record = {"model": rel, "divs_removed": divs, "bytes_before": len(old), "bytes_after": len(new),
                  "sha256_before": hashlib.sha256(old).hexdigest(), "sha256_after": hashlib.sha256(new).hexdigest(),
                  "litert_test_accuracy_before": float(np.mean(old_labels == test.labels)),
                  "litert_identical_labels_with_before": int((old_labels == new_labels).sum()), "n": len(test)}
        for rt in ("litert", "tflm"):
            r = evaluate_tflite(path, args.data, "test", rt)
            record[f"{rt}_test_accuracy_after"] = r["accuracy"]
            if rt == "tflm":
                record["tflm_arena_bytes_min_after"] = r["arena_bytes_min"]
        manifest_path = path[: -len(".tflite")] + ".json"
        if os.path.isfile(manifest_path):
            with open(manifest_path) as f:
                manifest = json.load(f)
            manifest.update(bytes=len(new), sha256=record["sha256_after"], ops=op_list(new),
                            migrated={"what": "attention renormalisation DIV removed "
                                              "(scripts/migrate_attention_div.py)",
                                      "bytes_before": len(old), "sha256_before": record["sha256_before"]})
            atomic_write_json(manifest_path, manifest)
        print(json.dumps(record), flush=True)
        done.append(record)
    if not done:
        print("no committed model holds a DIV: nothing to do")
        return
    update_results(done)
    atomic_write_json(args.out, {"command": "python scripts/migrate_attention_div.py", "models": done})


def update_results(done):
    """results.json: the committed model's run gets the re-measured int8 figures; old ones kept."""
    path = os.path.join(ROOT, "results", "results.json")
    with open(path) as f:
        runs = json.load(f)
    by_model = {d["model"]: d for d in done}
    for r in runs:
        d = by_model.get(r.get("tflite_int8"))
        if d is None:
            continue
        r["before_div_removal"] = {k: r.get(k) for k in ("tflite_int8_bytes", "tflite_int8_test_accuracy",
                                                          "tflite_int8_litert_test_accuracy",
                                                          "tflite_int8_tflm_test_accuracy")}
        r["tflite_int8_bytes"] = d["bytes_after"]
        r["tflite_int8_test_accuracy"] = r["tflite_int8_litert_test_accuracy"] = d["litert_test_accuracy_after"]
        r["tflite_int8_tflm_test_accuracy"] = d["tflm_test_accuracy_after"]
    atomic_write_json(path, runs)


if __name__ == "__main__":
    main()
