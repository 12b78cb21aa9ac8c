#!/usr/bin/env python3
"""Where the instructions go: the firmware of a student built with -DTFDISTIL_PROFILE_OPS (a TFLM
profiler that adds up each op invocation's timer ticks by op name), run on an emulated board with
each kernel set over the first --limit sentences of a split. Prints a Markdown table (instructions
per sentence by op type, per kernel set) and writes the JSON beside --out.

The profiler's own timer reads are inside the per-op figures (a few dozen instructions per op
call), so a profiled build's totals run slightly above `tfdistil firmware`'s.

    .venv/bin/python experiments/firmware/firmware_op_profile.py results/models/mcu-attn-e20h32a16-v8800-sw/bilstm_attn_int8_L64.tflite \
        --per-token 16,32,64 --c-vocab fingerprint-ranks --limit 200 --out results/firmware/op-profile.md
"""
import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "sst2"))
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--per-token", default=None)
    ap.add_argument("--c-vocab", default="strings")
    ap.add_argument("--out", required=True, help="Markdown file to write (the JSON goes beside it)")
    args = ap.parse_args(argv)
    if not args.out.endswith(".md"):
        sys.exit("error: --out must end in .md")
    from tfdistil.errors import UserError
    from tfdistil.edge.mcu.run import check_inputs
    try:
        check_inputs(args.model, args.board, "cmsis-nn")
        from tfdistil.data.splits import load_split
        sentences = load_split(args.data, args.split, args.limit).sentences
    except UserError as e:
        sys.exit(f"error: {e}")
    from tfdistil.edge.mcu.firmware import write_firmware_kit
    from tfdistil.edge.mcu.run import instruction_counts, op_instructions, run_on_board
    heads = [int(x) for x in args.per_token.split(",")] if args.per_token else None
    result = {"command": " ".join(["python", "experiments/firmware/firmware_op_profile.py", *(argv or sys.argv[1:])]),
              "model": args.model, "board": args.board, "split": args.split, "n": len(sentences), "kernels": {}}
    with tempfile.TemporaryDirectory(prefix="tfdistil-prof-") as tmp:
        kit = write_firmware_kit(args.model, os.path.join(tmp, "kit"), head_lengths=heads, vocab_layout=args.c_vocab)
        for kernels in ("cmsis-nn", "reference"):
            build, out = run_on_board(os.path.join(tmp, "kit"), os.path.join(tmp, kernels), args.board, kit["ops"],
                                      sentences, kernels, defines=["-DTFDISTIL_PROFILE_OPS"])
            counts, _ = instruction_counts(out)
            result["kernels"][kernels] = {"invoke_mean": round(float(counts[:, 2].mean()), 1),
                                          "by_op": op_instructions(out, len(sentences)),
                                          "labels": [s["label"] for s in out["sentences"]]}
    same = result["kernels"]["cmsis-nn"]["labels"] == result["kernels"]["reference"]["labels"]
    ops = sorted(set(result["kernels"]["reference"]["by_op"]) | set(result["kernels"]["cmsis-nn"]["by_op"]),
                 key=lambda o: -result["kernels"]["reference"]["by_op"].get(o, {}).get("instructions_per_sentence", 0))
    lines = [f"# Instructions per sentence by op type: {os.path.basename(os.path.dirname(args.model))} on {args.board}",
             "", f"    {result['command']}", "",
             f"First {len(sentences)} {args.split} sentences; profiled builds (see the script's docstring). "
             f"Labels identical between the kernel sets: {same}.", "",
             "| op | reference | share | CMSIS-NN | share | CMSIS-NN / reference |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for op in ops:
        r = result["kernels"]["reference"]["by_op"].get(op, {"instructions_per_sentence": 0, "share": 0})
        c = result["kernels"]["cmsis-nn"]["by_op"].get(op, {"instructions_per_sentence": 0, "share": 0})
        ratio = c["instructions_per_sentence"] / r["instructions_per_sentence"] if r["instructions_per_sentence"] else 0
        lines.append(f"| {op} | {r['instructions_per_sentence']:,.0f} | {100 * r['share']:.1f} % "
                     f"| {c['instructions_per_sentence']:,.0f} | {100 * c['share']:.1f} % | {ratio:.2f} |")
    lines.append(f"| **Invoke() total (mean)** | {result['kernels']['reference']['invoke_mean']:,.0f} | "
                 f"| {result['kernels']['cmsis-nn']['invoke_mean']:,.0f} | | "
                 f"{result['kernels']['cmsis-nn']['invoke_mean'] / result['kernels']['reference']['invoke_mean']:.2f} |")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    with open(args.out[:-3] + ".json", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
