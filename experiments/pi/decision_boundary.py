#!/usr/bin/env python3
"""How many test sentences of each committed int8 model sit within one int8 output step of another decision.

    python experiments/pi/decision_boundary.py [--data ../shared/data/sst2] [--out results/decision_boundary.json]

For every results/models/*/*int8*.tflite: the float32 logits of the SST-2 test split in LiteRT
(builtin kernels, what tflite/classify.py runs) and in host TFLM (reference kernels, what the
firmware and `tfdistil bundle` run), turned back into the int8 output tensor the final DEQUANTIZE
read (q = z / scale + zero_point, checked to be exact), then `tfdistil.edge.host.decision.boundary_summary`:
ties (equal int8 outputs, p exactly 0.5), and sentences whose label changes if any single output
moves by one int8 step - the ones another runtime's rounding (a Pi's aarch64 kernels) can flip.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


def output_quantization(model_bytes):
    """(scale, zero_point) of the int8 tensor the model's final DEQUANTIZE reads."""
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_content=model_bytes)
    out = it.get_output_details()[0]["index"]
    op = next(o for o in it._get_ops_details() if out in o["outputs"])
    assert op["op_name"] == "DEQUANTIZE", op["op_name"]
    t = next(d for d in it.get_tensor_details() if d["index"] == int(op["inputs"][0]))
    return float(t["quantization"][0]), int(t["quantization"][1])


def int8_outputs(logits, scale, zero_point):
    q = np.rint(logits.astype(np.float64) / scale).astype(np.int64) + zero_point
    assert np.array_equal(((q - zero_point) * np.float32(scale)).astype(np.float32), logits), "not a dequantized int8"
    return q


def main():
    from tfdistil.data.splits import load_split
    from tfdistil.data.vocab import Vocab
    from tfdistil.edge.host.decision import boundary_summary
    from tfdistil.edge.host.evaluate import LiteRTRunner, TFLMRunner, read_model
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "sst2"))
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "decision_boundary.json"))
    args = ap.parse_args()
    split = load_split(args.data, "test")
    rows = []
    for path in sorted(glob.glob(os.path.join(ROOT, "results", "models", "*", "*int8*.tflite"))):
        model = read_model(path)
        vocab = Vocab.load(os.path.join(os.path.dirname(path), "vocab.json"))
        scale, zp = output_quantization(model)
        row = {"model": os.path.relpath(path, ROOT), "output_scale": scale, "output_zero_point": zp}
        for name, runner in (("litert", LiteRTRunner(model)), ("tflm", TFLMRunner(model, 4 * 1024 * 1024))):
            ids = vocab.encode_batch(split.sentences, runner.max_len)
            z = np.stack([runner(ids[i:i + 1]) for i in range(len(ids))])
            row[name] = boundary_summary(int8_outputs(z, scale, zp), split.labels)
        rows.append(row)
        print(f"{row['model']}: litert ties {row['litert']['ties']}, within one step {row['litert']['within_one_step']} "
              f"(accuracy {row['litert']['accuracy']:.4f}, range {row['litert']['accuracy_range_if_each_moves_one_step']}); "
              f"tflm ties {row['tflm']['ties']}, within one step {row['tflm']['within_one_step']}", flush=True)
    out = {"split": "SST-2 test", "n": len(split.sentences), "rule": "label = first index of the largest logit "
           "(ties -> lowest class index; 2 classes: p(1) > 0.5)", "command": "python experiments/pi/decision_boundary.py",
           "models": rows}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
