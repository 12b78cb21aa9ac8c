#!/usr/bin/env python3
"""Run every committed int8 model through the Raspberry Pi runner in tflite-runtime 2.14.0.

    python experiments/pi/check_tflite_runtime.py [--venv .venv-tflite-runtime] [--out results/tflite_runtime_check.json]

tflite-runtime 2.14.0 is the last release and what Raspberry Pi OS Bookworm's Python 3.11
gets; it needs numpy<2, so it lives in a venv of its own (made here if missing: PyPI
only). `tflite/classify.py --tsv test.tsv` runs in that venv, where no other runtime and no
TensorFlow is installed, and its test accuracy is compared with the accuracy recorded for
the model (results/results.json, LiteRT builtin kernels; for a model outside it, its own
eval_int8_litert_test.json; see experiments/runtimes/record_int8_kernels.py).
"""
import argparse
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ensure_venv(venv):
    """The tflite-runtime venv's python (made by `tfdistil.distil.checks.pi_venv` when missing) and its versions."""
    from tfdistil.distil.checks import pi_venv
    python = pi_venv(venv)
    probe = "import numpy, tflite_runtime; print(tflite_runtime.__version__, numpy.__version__)"
    out = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    return python, {"tflite_runtime": out[0], "numpy": out[1]}


def classify_accuracy(python, model, vocab, tsv):
    """Test accuracy as tflite/classify.py prints it, and its labels."""
    proc = subprocess.run([python, os.path.join(ROOT, "tflite", "classify.py"), model, "--vocab", vocab,
                           "--tsv", tsv], capture_output=True, text=True)
    if proc.returncode != 0:
        return None, (proc.stderr.strip().splitlines() or ["?"])[-1]
    labels = [int(line.split("\t")[0]) for line in proc.stdout.splitlines()]
    with open(tsv, encoding="utf-8") as f:
        gold = [int(line.rstrip("\n").split("\t")[1]) for line in list(f)[1:] if line.strip()]
    return sum(a == b for a, b in zip(labels, gold)) / len(gold), None


def recorded_accuracies():
    with open(os.path.join(ROOT, "results", "results.json")) as f:
        rec = {e["tflite_int8"]: e["tflite_int8_test_accuracy"] for e in json.load(f) if e.get("tflite_int8")}
    # a committed model with no run in results.json: its own LiteRT record (builtin kernels)
    for own in glob.glob(os.path.join(ROOT, "results", "models", "*", "eval_int8_litert_test.json")):
        with open(own) as f:
            e = json.load(f)
        rec.setdefault(e["model"], e["accuracy"])
        # ... under the committed copy's name too (the record names the run's file it was measured on)
        beside = os.path.join(os.path.dirname(own), os.path.basename(e["model"]))
        if os.path.isfile(beside) and os.path.getsize(beside) == e.get("model_bytes", os.path.getsize(beside)):
            rec.setdefault(os.path.relpath(beside, ROOT), e["accuracy"])
    migration = os.path.join(ROOT, "results", "migration_attention_div.json")
    if os.path.isfile(migration):
        with open(migration) as f:
            for m in json.load(f)["models"]:
                rec.setdefault(m["model"], m["litert_test_accuracy_after"])
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", default=os.path.join(ROOT, ".venv-tflite-runtime"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "sst2"))
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "tflite_runtime_check.json"))
    args = ap.parse_args()
    python, versions = ensure_venv(args.venv)
    tsv = os.path.join(args.data, "test.tsv")
    recorded = recorded_accuracies()
    rows = []
    for folder in sorted(os.listdir(os.path.join(ROOT, "results", "models"))):
        d = os.path.join("results", "models", folder)
        for name in sorted(os.listdir(os.path.join(ROOT, d))):
            if not name.endswith(".tflite"):
                continue
            model = os.path.join(d, name)
            acc, err = classify_accuracy(python, os.path.join(ROOT, model), os.path.join(ROOT, d, "vocab.json"), tsv)
            rec = recorded.get(model)
            row = {"model": model, "tflite_runtime_test_accuracy": acc, "recorded": rec, "error": err,
                   "difference_points": None if acc is None or rec is None else round(100 * abs(acc - rec), 3)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    ok = [r for r in rows if r["difference_points"] is not None and r["difference_points"] <= 0.1]
    result = {"command": "python experiments/pi/check_tflite_runtime.py", "runtime": versions, "split": "test",
              "models": rows, "reproduced_within_0.1_points": len(ok), "of": len(rows)}
    with open(args.out + ".tmp", "w") as f:
        json.dump(result, f, indent=2)
    os.replace(args.out + ".tmp", args.out)
    print(f"{len(ok)}/{len(rows)} committed models reproduce their recorded int8 test accuracy to 0.1 points "
          f"in tflite-runtime {versions['tflite_runtime']} (numpy {versions['numpy']})")
    sys.exit(0 if len(ok) == len(rows) else 1)


if __name__ == "__main__":
    main()
