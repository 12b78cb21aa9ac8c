"""Epoch time of each student on full SST-2, beside a plain Keras model of the same size.

Each measurement is a fresh process under /usr/bin/time (so system time and page
faults are the kernel's own counts). Each student runs twice: with glibc malloc's
defaults and with its mmap/trim thresholds raised through the environment, to see
whether per-step tensors are being mmapped and unmapped (many page faults, system
time near user time). Beside each student, a plain Keras model of the same parameter
count (Embedding -> mean -> Dense, `model.fit` on the same padded batches) shows what
any Keras model costs on this machine.

    python experiments/ablations/training_speed.py [--students cnn,bilstm,bilstm_attn] [--epochs 2]

writes experiments/ablations/training_speed.json and prints a Markdown table.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get("TFDISTIL_DATA", os.path.join(ROOT, "..", "shared", "data", "sst2"))


# glibc reads these at start-up; 32 MiB is the largest mmap threshold it accepts on 64-bit.
MALLOC_ENV = {"glibc default": {},
              "glibc thresholds raised": {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(512 << 20)}}


def timed(cmd, env):
    """Run cmd under GNU time -v; return (stderr text, {user, system, minor_faults, wall})."""
    proc = subprocess.run(["/usr/bin/time", "-v"] + cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return parse_time(proc.stderr)


def parse_time(stderr):
    grab = lambda label: float(re.search(rf"{label}: ([\d.:]+)", stderr).group(1).split(":")[-1])
    return stderr, {"user_s": grab(r"User time \(seconds\)"), "system_s": grab(r"System time \(seconds\)"),
                         "minor_faults": int(grab(r"Minor \(reclaiming a frame\) page faults"))}


def fit_epochs(student, epochs, malloc, workdir):
    env = dict(os.environ, TFDISTIL_DATA=DATA)
    env.update(MALLOC_ENV[malloc])
    out = os.path.join(workdir, f"{student}-{'default' if malloc == 'glibc default' else 'raised'}")
    err, usage = timed([sys.executable, "-m", "tfdistil", "fit", "--student", student, "--distill",
                        "--epochs", str(epochs), "--data", DATA, "--out", out], env)
    history = json.load(open(os.path.join(out, "history.json")))
    params = json.load(open(os.path.join(out, "metrics.json")))["params"]
    return {"model": f"tfdistil {student}", "student": student, "params": params, "malloc": malloc,
            "epoch_seconds": [h["seconds"] for h in history],
            "dev_accuracy": [h["dev_accuracy"] for h in history], "loss": [h["loss"] for h in history],
            **usage}


PLAIN_KERAS = r"""
import json, sys, time
import numpy as np
import tfdistil, keras
from tfdistil.data.splits import load_split
from tfdistil.data.vocab import Vocab
from tfdistil.training.batches import StudentBatches
params, epochs = int(sys.argv[1]), int(sys.argv[2])
train = load_split(sys.argv[3], "train")
vocab = Vocab.build(train.sentences)
ids = vocab.encode_batch(train.sentences).astype(np.int32)
dim = max(1, params // len(vocab))
model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(len(vocab), dim),
                          keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])
model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
ds = StudentBatches("cnn", ids, train.labels, batch_size=32).dataset().map(lambda x, y: (x[0], y["label"]))
seconds = []
for _ in range(epochs):
    t0 = time.time(); model.fit(ds, epochs=1, verbose=0); seconds.append(round(time.time() - t0, 2))
print(json.dumps({"params": model.count_params(), "epoch_seconds": seconds}))
"""


def plain_keras(params, epochs, malloc):
    env = dict(os.environ, **MALLOC_ENV[malloc])
    proc = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-c", PLAIN_KERAS, str(params), str(epochs), DATA],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"plain Keras run failed:\n{proc.stderr[-2000:]}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    _, usage = parse_time(proc.stderr)
    return {"model": "plain Keras (Embedding-mean-Dense, model.fit)", "params": got["params"], "malloc": malloc,
            "epoch_seconds": got["epoch_seconds"], **usage}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", default="cnn,bilstm,bilstm_attn")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "training_speed.json"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for student in args.students.split(","):
            for malloc in MALLOC_ENV:
                t0 = time.time()
                row = fit_epochs(student, args.epochs, malloc, workdir)
                row["wall_s"] = round(time.time() - t0, 1)
                rows.append(row)
                print(json.dumps(row), flush=True)
            row = plain_keras(row["params"], args.epochs, "glibc default")
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {"command": "python experiments/ablations/training_speed.py " + " ".join(sys.argv[1:]),
              "data": "SST-2 train (67,349 rows), --distill, batch 32", "cpu_cores": os.cpu_count(), "runs": rows}
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, args.out)
    print("\n| model | params | malloc | epoch s | user s | system s | minor faults | dev acc per epoch |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['params']:,} | {r['malloc']} | {' / '.join(map(str, r['epoch_seconds']))} | {r['user_s']:.0f} | "
              f"{r['system_s']:.1f} | {r['minor_faults'] / 1e6:.2f} M | "
              f"{' / '.join(f'{a:.4f}' for a in r.get('dev_accuracy', [])) or '-'} |")


if __name__ == "__main__":
    main()
