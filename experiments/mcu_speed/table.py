#!/usr/bin/env python3
"""Markdown tables of issue 30's work on the 256 KB student per token (whole SST-2 test split):
  default:    results/firmware/perf/table.md: reference, CMSIS-NN as published (+ the two fixes; an earlier boards run,
              kept in results/firmware/perf/plain-cmsis-nn/ since results/firmware/boards/ holds
              today's build), the fast
              paths before this work (results/firmware/perf/) and after it (results/firmware/perf/mcu-speed/),
              on the emulated M4 and M55;
  --profile:  instructions per sentence by op type of the CMSIS-NN build after this work, both boards
              (experiments/mcu_speed/profile.py JSON, first 200 test sentences, profiled builds).

    .venv/bin/python experiments/mcu_speed/table.py > results/firmware/perf/table.md
    .venv/bin/python experiments/mcu_speed/table.py --profile > results/firmware/perf/mcu-speed/op-profile.md
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAME = "mcu-attn-e20h32a16-v8800-sw-pertoken-fingerprint-ranks"
BEFORE, AFTER = "cmsis-nn + tfdistil fast paths (before issue 30)", "cmsis-nn + fast paths, issue 30 (fused LSTM step)"
ROWS = [("mps2-an386", "reference", "boards", ""), ("mps2-an386", "cmsis-nn (as published + the two fixes)", "perf/plain-cmsis-nn", "-cmsis-nn"),
        ("mps2-an386", BEFORE, "perf", "-cmsis-nn"), ("mps2-an386", AFTER, "perf/mcu-speed", "-cmsis-nn"),
        ("mps3-an547", "reference", "boards", "-mps3-an547"), ("mps3-an547", "cmsis-nn (as published + the two fixes)", "perf/plain-cmsis-nn", "-mps3-an547-cmsis-nn"),
        ("mps3-an547", BEFORE, "perf", "-mps3-an547-cmsis-nn"),
        ("mps3-an547", AFTER, "perf/mcu-speed", "-mps3-an547-cmsis-nn")]
TARGETS = {"mps2-an386": 1_000_000, "mps3-an547": 500_000}


def table():
    print("| board | kernels | instr./sentence mean | p50 | p95 | labels = host TFLM | int8 = host TFLM | "
          "accuracy | flash B (whole image) | RAM B (as linked) | arena used B | stack B | JSON |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for board, kernels, folder, suffix in ROWS:
        path = os.path.join(ROOT, "results", "firmware", folder, f"{NAME}{suffix}-test.json")
        if not os.path.isfile(path):
            print(f"| {board} | {kernels} | (not run) | | | | | | | | | | |")
            continue
        d = json.load(open(path))
        i = d["instructions"]["invoke"]
        print(f"| {board} | {kernels} | {i['mean']:,.0f} | {i['p50']:,.0f} | {i['p95']:,.0f} | "
              f"{d['labels_identical']}/{d['n']} | {d['int8_outputs_identical']}/{d['n']} | {100 * d['accuracy']:.2f} | "
              f"{d['flash_bytes']:,} | {d['ram_bytes']:,} | {d['ram']['arena_used_on_board']:,} | "
              f"{d['stack_high_water_bytes']:,} | `{os.path.relpath(path, ROOT)}` |")
    print()
    print("Targets of issue 30 (mean instructions per sentence, `--kernels cmsis-nn`): "
          + ", ".join(f"{b} <= {t:,}" for b, t in TARGETS.items()) + ".")


def profile():
    runs = {}
    for board in TARGETS:
        path = os.path.join(ROOT, "results", "firmware", "perf", "mcu-speed", f"op-profile-{board}-200.json")
        if os.path.isfile(path):
            runs[board] = json.load(open(path))
    print("# Instructions per sentence by op type after issue 30's fast paths (CMSIS-NN build)\n")
    print("    sh experiments/mcu_speed/run.sh   (the profile part: experiments/mcu_speed/profile.py --limit 200)\n")
    print("First 200 SST-2 test sentences, profiled builds (the profiler's own timer reads run the totals a few "
          "% above the plain builds'). Calls per sentence in brackets.\n")
    boards = list(runs)
    print("| op | " + " | ".join(f"{b} | share" for b in boards) + " |")
    print("| --- | " + " | ".join("---: | ---:" for _ in boards) + " |")
    ops = sorted({op for r in runs.values() for op in r["by_op"]},
                 key=lambda op: -max(r["by_op"].get(op, {}).get("instructions_per_sentence", 0) for r in runs.values()))
    for op in ops:
        cells = []
        for b in boards:
            v = runs[b]["by_op"].get(op)
            cells.append(f"{v['instructions_per_sentence']:,.0f} ({v['calls_per_sentence']:g}) | {100 * v['share']:.1f} %"
                         if v else " | ")
        print(f"| {op} | " + " | ".join(cells) + " |")
    print("| **Invoke() total (mean)** | " + " | ".join(f"{runs[b]['mean']:,.0f} | " for b in boards) + " |")


if __name__ == "__main__":
    profile() if "--profile" in sys.argv[1:] else table()
