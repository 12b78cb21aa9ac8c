#!/usr/bin/env python3
"""Check the Raspberry Pi runner against the Keras model and the committed numbers.

    python experiments/pi/check_pi_runner.py [--split dev] [--out results/pi_runner_check.json]

1. For each run folder given (default: the seed-0 runs), `tflite/classify.py` (a subprocess that
   cannot import TensorFlow) classifies every sentence of the split with the run's float32
   flatbuffer; its labels are compared with the Keras model's.
2. Every committed int8 model in results/results.json is run through classify.py on the labelled
   test split and its accuracy compared with the `tflite_int8_test_accuracy` recorded there.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# classify.py runs with TensorFlow made unimportable: proof it does not need it.
NO_TF = """
import runpy, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("classify.py must not import TensorFlow")
sys.meta_path.insert(0, Block())
sys.argv = ["classify.py"] + sys.argv[1:]
runpy.run_path(%r, run_name="__main__")
""" % os.path.join(ROOT, "tflite", "classify.py")


def classify(model, vocab, tsv):
    proc = subprocess.run([sys.executable, "-c", NO_TF, model, "--vocab", vocab, "--tsv", tsv],
                          capture_output=True, text=True, check=True)
    return [int(line.split("\t")[0]) for line in proc.stdout.splitlines()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="*", default=[os.path.join("runs", f"{s}-{m}-s0") for s in
                                                ("cnn", "bilstm", "bilstm_attn") for m in ("baseline", "distill")])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "sst2"))
    ap.add_argument("--split", default="dev")
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "pi_runner_check.json"))
    args = ap.parse_args()

    import numpy as np
    from tfdistil.training.batches import predict_logits
    from tfdistil.data.splits import load_split
    from tfdistil.files import atomic_write_json
    from tfdistil.training.fit import load_run

    split = load_split(args.data, args.split)
    tsv = os.path.join(args.data, f"{args.split}.tsv")
    report = {"command": "python experiments/pi/check_pi_runner.py " + " ".join(sys.argv[1:]), "keras_vs_pi_runner": [],
              "committed_int8_on_test": []}
    for run in args.runs:
        cfg, vocab, student = load_run(run)
        model = os.path.join(run, "tflite", f"{cfg.student}_float32_L64.tflite")
        if not os.path.isfile(model):
            print(f"skip {run}: no {model}", file=sys.stderr)
            continue
        pi = np.array(classify(model, os.path.join(run, "tflite", "vocab.json"), tsv))
        keras = predict_logits(student, cfg.student, vocab.encode_batch(split.sentences, 64)).argmax(-1)
        row = {"run": run, "model": model, "split": args.split, "n": len(split),
               "identical_labels": int((pi == keras).sum()), "all_identical": bool((pi == keras).all())}
        report["keras_vs_pi_runner"].append(row)
        print(row)
    test = load_split(args.data, "test")
    with open(os.path.join(ROOT, "results", "results.json")) as f:
        entries = json.load(f)
    for e in entries if isinstance(entries, list) else entries.get("runs", []):
        if not e.get("tflite_int8") or e.get("tflite_int8_test_accuracy") is None:
            continue
        labels = np.array(classify(os.path.join(ROOT, e["tflite_int8"]), os.path.join(ROOT, e["vocab"]),
                                   os.path.join(args.data, "test.tsv")))
        acc = float((labels == test.labels).mean())
        row = {"name": e["name"], "tflite_int8": e["tflite_int8"], "classify_test_accuracy": acc,
               "recorded": e["tflite_int8_test_accuracy"],
               "difference_points": round(100 * abs(acc - e["tflite_int8_test_accuracy"]), 3)}
        report["committed_int8_on_test"].append(row)
        print(row)
    atomic_write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
