#!/usr/bin/env python3
"""How closely do students follow their teacher on sentences they never trained on?

Reads the first N rows of a held-out MPNet-labelled shard set (default: aug/mpnet-shards-heldout-s4,
made with `tfdistil augment --exclude-from` so that no sentence of it is in any training mix) and, for
each run folder, prints the share of rows on which the student's label equals the teacher's and the
mean squared logit difference, beside the run's own SST-2 test accuracy from metrics.json. 40,000
sentences give a standard error of ~0.15 points, against ~1.15 on the 872-sentence dev set.

With --choose OUT.md it also picks the run with the highest agreement (ties: lower logit MSE) and
writes a table with each run's dev, test and, from --tflm-logs, its int8 TFLM test accuracy: a choice
among seeds that never looks at test. The augmented sentences are not real reviews, so this is a
selection rule, not a substitute for test.

    .venv/bin/python experiments/paper_attn_mpnet/teacher_agreement.py [--shards DIR] [--rows N] [--choose OUT.md --tflm-logs DIR] RUN...
"""
import argparse
import json
import os
import sys

from tfdistil.report.logsummary import last_json

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def held_out_rows(shards_dir, rows):
    import numpy as np
    import tensorflow as tf
    from tfdistil.transfer.shards import shard_files
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
    ap.add_argument("--shards", default="aug/mpnet-shards-heldout-s4")
    ap.add_argument("--rows", type=int, default=40_000)
    ap.add_argument("--choose", metavar="OUT.md", help="pick the most agreeing run; write the table here")
    ap.add_argument("--tflm-logs", metavar="DIR", help="evaltflite-RUNNAME-tflm.log files (for --choose)")
    args = ap.parse_args()
    rows, run_metrics = [], {}
    for run in args.runs:  # refuse a run that trained on the set before TensorFlow loads
        try:
            with open(os.path.join(run, "metrics.json"), encoding="utf-8") as f:
                run_metrics[run] = json.load(f)
        except (OSError, ValueError) as e:
            print(f"error: {run}: no readable metrics.json ({e.__class__.__name__})", file=sys.stderr)
            return 2
        used = str(run_metrics[run].get("teacher_logits", ""))
        if os.path.normpath(args.shards) in [os.path.normpath(p) for p in used.split("+")]:
            print(f"error: {run} trained on {args.shards}; it is not held out", file=sys.stderr)
            return 2
    from tfdistil.training.batches import predict_logits
    from tfdistil.training.fit import load_run
    sentences, teacher_logits, manifest = held_out_rows(args.shards, args.rows)
    print(json.dumps({"held_out": args.shards, "rows": len(sentences), "teacher": manifest.get("teacher")}), flush=True)
    for run in args.runs:
        metrics = run_metrics[run]
        cfg, vocab, model = load_run(run)
        logits = predict_logits(model, cfg.student, vocab.encode_batch(sentences, cfg.max_len))
        row = {"run": run, "transfer_set": str(metrics.get("teacher_logits", "")), "vocab_size": len(vocab), "embed_dim": cfg.embed_dim,
               "agreement": round(float((logits.argmax(-1) == teacher_logits.argmax(-1)).mean()), 4),
               "logit_mse": round(float(((logits - teacher_logits) ** 2).mean()), 4),
               "dev_accuracy": metrics.get("dev_accuracy"), "test_accuracy": metrics.get("test_accuracy")}
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.choose:
        write_choice(args, rows, len(sentences), manifest)
    return 0


def tflm_accuracy(log_dir, run):
    """The last JSON line of LOG_DIR/evaltflite-RUNNAME-tflm.log (experiments/stream_run.sh), or None."""
    path = os.path.join(log_dir or "", f"evaltflite-{os.path.basename(os.path.normpath(run))}-tflm.log")
    if not log_dir or not os.path.isfile(path):
        return None
    return last_json(path)["accuracy"]


def spearman(a, b):
    """Spearman's ρ with average ranks for ties (no SciPy needed for five numbers)."""
    import numpy as np

    def ranks(x):
        x = np.asarray(x, dtype=float)
        r = np.empty(len(x))
        for v in np.unique(x):
            r[x == v] = np.flatnonzero(np.sort(x) == v).mean()
        return r
    ra, rb = ranks(a), ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def write_choice(args, rows, n, manifest):
    """The most agreeing run (ties: lower logit MSE), and a Markdown table that shows why."""
    chosen = max(rows, key=lambda r: (r["agreement"], -r["logit_mse"]))
    pct = lambda x: "—" if x is None else f"{100 * x:.2f}"
    lines = ["# Choosing among seeds by agreement with the teacher on held-out sentences", "",
             f"Written by `python experiments/paper_attn_mpnet/teacher_agreement.py {' '.join(sys.argv[1:])}` on the first {n:,} rows of "
             f"`{args.shards}` (teacher `{manifest.get('teacher')}`; none of these sentences is in any run's "
             "training mix). The chosen run is the one whose labels agree most with the teacher's; dev and test "
             "are shown but play no part in the choice.", "",
             "| run | agreement | logit MSE | dev | test (Keras) | test (int8, TFLM) | chosen |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    tflm = [tflm_accuracy(args.tflm_logs, r["run"]) for r in rows]
    for r, board in zip(rows, tflm):
        lines.append(f"| `{r['run']}` | {pct(r['agreement'])} | {r['logit_mse']:.4f} | {pct(r['dev_accuracy'])} | "
                     f"{pct(r['test_accuracy'])} | {pct(board)} | {'**yes**' if r is chosen else ''} |")
    lines += ["", f"Chosen: `{chosen['run']}`, int8 TFLM test {pct(tflm[rows.index(chosen)])}."]
    if len(rows) >= 3 and None not in tflm:
        # After the fact, how well each selection signal ranks these runs by what the board scores.
        rho = {k: spearman([r[k] for r in rows], tflm) for k in ("agreement", "dev_accuracy")}
        lines += ["", f"Rank correlation with the int8 TFLM test accuracy over these {len(rows)} runs (reported, not "
                  f"used): held-out agreement ρ = {rho['agreement']:+.2f}, dev accuracy ρ = {rho['dev_accuracy']:+.2f}."]
    tmp = args.choose + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, args.choose)
    print(json.dumps({"chosen": chosen["run"], "out": args.choose}), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tfdistil.cli.common import filter_native_stderr
    filter_native_stderr()  # absl/oneDNN lines ignore the level; the CLI drops them the same way
    sys.exit(main())
