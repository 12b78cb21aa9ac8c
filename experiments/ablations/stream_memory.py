#!/usr/bin/env python3
"""Peak memory of a student streaming a large sharded transfer set (`tfdistil fit-stream`).

    python experiments/ablations/stream_memory.py [--rows 1000000] [--shard-size 100000] [--student bilstm_attn]
        [--steps 2000 | --steps 0] [--batch-size 32] [--dir DIR] [--data DIR] [--out FILE.json]

1. Writes a synthetic transfer set in DIR (kept and reused if it is already complete with
   --rows rows): sentences with SST-2 train lengths, words drawn from the train unigram
   distribution, random logits, label -1 (the shape of an augmented transfer set, with no
   teacher run). It is written one shard at a time, so the writer holds one shard at most.
2. In a child process (so the writer's memory is not counted) trains the student with
   `tfdistil.stream.fit_stream` for --steps batches (0 = one full epoch over all rows),
   sampling RSS every 50 batches, and reports the child's peak RSS (ru_maxrss).

Prints one JSON object (and writes it to --out). The logits are synthetic: this measures
memory, not accuracy.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfdistil.data.splits import load_split  # noqa: E402
from tfdistil.data.tokenizer import split_words  # noqa: E402

DEFAULT_DATA = os.environ.get("TFDISTIL_DATA", os.path.join(ROOT, "..", "shared", "data", "sst2"))


def synthetic_shards(data, out_dir, rows, shard_size, seed=0):
    """Write `rows` synthetic rows as shards + a complete manifest; return (seconds, bytes)."""
    from tfdistil.transfer import shards as S
    manifest = S.load_manifest(out_dir)
    if manifest and manifest["complete"] and manifest["rows"] == rows and manifest["shard_size"] == shard_size:
        return 0.0, sum(s["bytes"] for s in manifest["shards"])
    os.makedirs(out_dir, exist_ok=True)
    train = load_split(data, "train")
    words, counts = np.unique([w for s in train.sentences for w in split_words(s)], return_counts=True)
    lengths = np.array([max(1, len(split_words(s))) for s in train.sentences])
    p = counts / counts.sum()
    rng = np.random.default_rng(seed)
    manifest = S.new_manifest({"teacher": "synthetic", "teacher_sha256": None,
                               "sources": [{"kind": "synthetic", "rows": rows, "sha256": None, "seed": seed}],
                               "shard_size": shard_size, "max_len": 128, "mask_token": "<unk>"})
    manifest["num_labels"] = 2
    t0 = time.time()
    for index, start in enumerate(range(0, rows, shard_size)):
        n = min(shard_size, rows - start)
        lens = rng.choice(lengths, n)
        flat = rng.choice(words, int(lens.sum()), p=p)
        cuts = np.cumsum(lens)[:-1]
        sentences = [" ".join(ws) for ws in np.split(flat, cuts)]
        logits = rng.normal(0, 2, (n, 2)).astype(np.float32)
        path = os.path.join(out_dir, S.shard_name(index))
        t = time.time()
        digest = S.write_shard(path, sentences, [-1] * n, logits)
        S.commit_shard(out_dir, manifest, {
            "index": index, "file": S.shard_name(index), "rows": n, "bytes": os.path.getsize(path), "sha256": digest,
            "input_sha256": None, "labelled_rows": 0, "seconds": round(time.time() - t, 3),
            "sentences_per_second": None, "strategy": None})
        print(f"wrote {S.shard_name(index)} ({start + n}/{rows} rows)", file=sys.stderr)
    manifest["complete"] = True
    from tfdistil.files import atomic_write_json
    atomic_write_json(os.path.join(out_dir, S.MANIFEST), manifest)
    return time.time() - t0, sum(s["bytes"] for s in manifest["shards"])


def rss_mb():
    """Current resident memory (psutil when installed, else /proc on Linux)."""
    try:
        import psutil
        return round(psutil.Process().memory_info().rss / 2**20, 1)
    except ImportError:
        with open("/proc/self/statm") as f:
            return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def train_child(args):
    """Runs in its own process: fit_stream with an RSS-sampling callback; prints JSON."""
    import keras

    from tfdistil.config import Config
    from tfdistil.training.stream import fit_stream, peak_rss_mb

    samples = []

    class SampleRSS(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            samples.append({"step": 0, "rss_mb": rss_mb()})

        def on_train_batch_end(self, batch, logs=None):
            if (batch + 1) % 50 == 0:
                samples.append({"step": batch + 1, "rss_mb": rss_mb()})

    cfg = Config(student=args.student, epochs=1, batch_size=args.batch_size, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        metrics = fit_stream(cfg, args.dir, args.data, os.path.join(tmp, "run"),
                             log=lambda m: print(m, file=sys.stderr), steps_per_epoch=args.steps or None,
                             shuffle_buffer=args.shuffle_buffer, callbacks=[SampleRSS()])
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), "rss_samples": samples, "train_seconds": round(time.time() - t0, 1),
                      "params": metrics["params"], "dev_accuracy": metrics["dev_accuracy"]}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--shard-size", type=int, default=100_000)
    ap.add_argument("--student", default="bilstm_attn")
    ap.add_argument("--steps", type=int, default=2000, help="Batches to train; 0 = one full epoch.")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--shuffle-buffer", type=int, default=10_000)
    ap.add_argument("--dir", default=None, help="Transfer set folder (default: a temp folder, removed after).")
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return train_child(args)

    tmp = None
    if args.dir is None:
        tmp = tempfile.TemporaryDirectory()
        args.dir = tmp.name
    write_seconds, shard_bytes = synthetic_shards(args.data, args.dir, args.rows, args.shard_size)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--dir", args.dir, "--data", args.data,
           "--student", args.student, "--steps", str(args.steps), "--batch-size", str(args.batch_size),
           "--shuffle-buffer", str(args.shuffle_buffer)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"training child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    steps = args.steps or None
    result = {
        "rows": args.rows, "shard_size": args.shard_size, "shard_mb": round(shard_bytes / 2**20, 1),
        "student": args.student, "batch_size": args.batch_size, "shuffle_buffer": args.shuffle_buffer,
        "steps": steps or "one epoch",
        "rows_streamed": steps * args.batch_size if steps else args.rows,
        "peak_rss_mb": child["peak_rss_mb"], "under_4gb": child["peak_rss_mb"] < 4096,
        "rss_at_train_begin_mb": child["rss_samples"][0]["rss_mb"],
        "max_sampled_rss_mb": max(s["rss_mb"] for s in child["rss_samples"]),
        "rss_samples": child["rss_samples"], "train_seconds": child["train_seconds"], "params": child["params"],
        # What train.fit would hold for the same rows: int32 ids [N, 128] + float32 logits [N, 2].
        "in_memory_arrays_mb_estimate": round(args.rows * (128 * 4 + 2 * 4) / 2**20, 1),
        "write_seconds": round(write_seconds, 1), "cpu_count": os.cpu_count(),
        "logits": "synthetic (memory measurement only)",
    }
    if tmp:
        tmp.cleanup()
    text = json.dumps(result)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(json.dumps(result, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
