#!/usr/bin/env python3
"""How closely do students follow their teacher on sentences they never trained on?

Reads the first N rows of a held-out MPNet-labelled shard set (default: aug/mpnet-shards-f4s2, which
the runs given were not trained on) and, for each run folder, prints the share of rows on which the
student's label equals the teacher's and the mean squared logit difference, beside the run's own
SST-2 test accuracy from metrics.json. 40,000 sentences give a standard error of ~0.15 points, against
~1.15 on the 872-sentence dev set: a finer look at what a setting buys (e.g. vocabulary vs embedding
width), though not a substitute for test (the augmented sentences are not real reviews).

    .venv/bin/python scripts/teacher_agreement.py [--shards DIR] [--rows N] RUN [RUN ...]
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def held_out_rows(shards_dir, rows):
    import numpy as np
    import tensorflow as tf
    from tfdistil.search.shards import shard_files
    files, manifest = shard_files(shards_dir, allow_partial=True)
    spec = {"sentence": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64),
            "teacher_logits": tf.io.FixedLenFeature([manifest.get("num_labels", 2)], tf.float32)}
    sentences, logits = [], []
    for record in tf.data.TFRecordDataset(files).take(rows):
        r = tf.io.parse_single_example(record, spec)
        sentences.append(r["sentence"].numpy().decode("utf-8"))
        logits.append(r["teacher_logits"].numpy())
    return sentences, np.array(logits), manifest


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--shards", default="aug/mpnet-shards-f4s2")
    ap.add_argument("--rows", type=int, default=40_000)
    args = ap.parse_args()
    from tfdistil.training.batches import predict_logits
    from tfdistil.training.fit import load_run
    sentences, teacher_logits, manifest = held_out_rows(args.shards, args.rows)
    print(json.dumps({"held_out": args.shards, "rows": len(sentences), "teacher": manifest.get("teacher")}), flush=True)
    for run in args.runs:
        with open(os.path.join(run, "metrics.json"), encoding="utf-8") as f:
            metrics = json.load(f)
        used = str(metrics.get("teacher_logits", ""))
        if os.path.normpath(args.shards) in [os.path.normpath(p) for p in used.split("+")]:
            print(f"error: {run} trained on {args.shards}; it is not held out", file=sys.stderr)
            return 2
        cfg, vocab, model = load_run(run)
        logits = predict_logits(model, cfg.student, vocab.encode_batch(sentences, cfg.max_len))
        print(json.dumps({"run": run, "transfer_set": used, "vocab_size": len(vocab), "embed_dim": cfg.embed_dim,
                          "agreement": round(float((logits.argmax(-1) == teacher_logits.argmax(-1)).mean()), 4),
                          "logit_mse": round(float(((logits - teacher_logits) ** 2).mean()), 4),
                          "test_accuracy": metrics.get("test_accuracy")}), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
