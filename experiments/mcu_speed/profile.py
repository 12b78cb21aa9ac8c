#!/usr/bin/env python3
"""Instructions per sentence by op type of the CMSIS-NN (+ tfdistil fast paths) firmware only, on one
board, over the first --limit sentences: the quick loop of issue 30's work (experiments/firmware/firmware_op_profile.py
also runs the reference kernels, which this work does not change).

    .venv/bin/python experiments/mcu_speed/profile.py --board mps2-an386 --limit 100
"""
import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
MODEL = "results/models/mcu-attn-e20h32a16-v8800-sw/bilstm_attn_int8_L64.tflite"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "sst2"))
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--per-token", default="16,32,64")
    ap.add_argument("--plain", action="store_true", help="no op profiler: the counts `tfdistil firmware` reports")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    from tfdistil.data.splits import load_split
    from tfdistil.edge.mcu.firmware import write_firmware_kit
    from tfdistil.edge.mcu.run import instruction_counts, run_on_board
    from tfdistil.edge.mcu.counts import op_instructions
    import numpy as np
    sentences = load_split(args.data, "test", args.limit).sentences
    heads = [int(x) for x in args.per_token.split(",")]
    with tempfile.TemporaryDirectory(prefix="tfdistil-mcuspeed-") as tmp:
        kit = write_firmware_kit(os.path.join(ROOT, args.model), os.path.join(tmp, "kit"), head_lengths=heads,
                                 vocab_layout="fingerprint-ranks")
        defines = [] if args.plain else ["-DTFDISTIL_PROFILE_OPS"]
        build, out = run_on_board(os.path.join(tmp, "kit"), os.path.join(tmp, "b"), args.board, kit["ops"], sentences,
                                  "cmsis-nn", defines=defines)
        counts, _ = instruction_counts(out)
        inv = counts[:, 2]
        whole = counts.sum(axis=1)  # tokenize + Reset() + Invoke(): the whole sentence
        res = {"board": args.board, "n": len(sentences), "mean": float(inv.mean()),
               "p50": float(np.percentile(inv, 50)), "p95": float(np.percentile(inv, 95)),
               "tokenize_mean": float(counts[:, 0].mean()), "reset_mean": float(counts[:, 1].mean()),
               "whole_mean": float(whole.mean()), "whole_p50": float(np.percentile(whole, 50)),
               "whole_p95": float(np.percentile(whole, 95)),
               "labels": [s["label"] for s in out["sentences"]],
               "raw": [s["raw"] for s in out["sentences"]],
               "by_op": {} if args.plain else op_instructions(out, len(sentences))}
    print(f"{args.board} n={res['n']} mean={res['mean']:,.0f} p50={res['p50']:,.0f} p95={res['p95']:,.0f} "
          f"(Invoke()); tokenize={res['tokenize_mean']:,.0f} reset={res['reset_mean']:,.0f} "
          f"whole sentence mean={res['whole_mean']:,.0f}")
    for op, v in res["by_op"].items():
        print(op, v)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f)


if __name__ == "__main__":
    main()
