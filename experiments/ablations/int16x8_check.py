#!/usr/bin/env python3
"""Try `--quantize int16x8` (16-bit activations, 8-bit weights) on one run per student and record,
per runtime, whether the flatbuffer runs there or the one-line reason it cannot
-> experiments/ablations/int16x8.json, which scripts/benchmark.py and experiments/firmware/firmware_budget.py turn into the
int16x8 rows of their tables.

The refusal comes from the converter, before any runtime sees a flatbuffer, so it does not depend
on the weights: a short run per student is enough to record it (its size is in the JSON).

    .venv/bin/python experiments/ablations/int16x8_check.py RUN_DIR [RUN_DIR ...] --data ../shared/data/sst2
"""
import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

RUNTIMES = ("LiteRT (ai-edge-litert)", "tflite-runtime 2.14 (Raspberry Pi)", "TFLite Micro (host)",
            "TFLite Micro on the emulated Cortex-M4")


def check_run(run_dir, data):
    from tfdistil.edge.convert.export import convert
    from tfdistil.errors import UserError
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    entry = {"run": os.path.relpath(run_dir, ROOT), "student": config["student"], "params": metrics.get("params"),
             "train_rows": metrics.get("train_rows"), "epochs": config.get("epochs")}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        try:
            out = convert(run_dir, "int16x8", out=os.path.join(tmp, "m.tflite"), data=data, calibration_size=100,
                          warn=lambda m: None)
            entry["converted"] = {"bytes": out.get("bytes")}
            entry["runtimes"] = {rt: "converted: measure it with evaluate-tflite / firmware" for rt in RUNTIMES}
        except UserError as e:
            entry["converted"] = None
            entry["reason"] = str(e)
            entry["runtimes"] = {rt: f"cannot run: no flatbuffer ({e})" for rt in RUNTIMES}
        entry["seconds"] = round(time.time() - t0, 1)
    return entry


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="Run folders (one per student).")
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "sst2"))
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "int16x8.json"))
    args = p.parse_args(argv)
    import tensorflow as tf
    from tfdistil.files import atomic_write_json
    result = {"command": "python experiments/ablations/int16x8_check.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "tensorflow": tf.__version__,
              "students": [check_run(r, args.data) for r in args.runs]}
    atomic_write_json(args.out, result)
    for s in result["students"]:
        print(f"{s['student']}: " + (f"converted, {s['converted']['bytes']} bytes" if s["converted"] else s["reason"]))


if __name__ == "__main__":
    main()
