#!/usr/bin/env python3
"""Markdown table: the 256 KB student per token before (results/firmware/boards/, CMSIS-NN as published
+ the two fixes, and reference) and after tfdistil's exact fast paths (results/firmware/perf/), on the
emulated M4 and M55, whole SST-2 test split.

    .venv/bin/python experiments/firmware/firmware_perf_table.py > results/firmware/perf/table.md
"""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAME = "mcu-attn-e20h32a16-v8800-sw-pertoken-fingerprint-ranks"
ROWS = [("mps2-an386", "reference", "boards", ""), ("mps2-an386", "cmsis-nn", "boards", "-cmsis-nn"),
        ("mps2-an386", "cmsis-nn + tfdistil fast paths", "perf", "-cmsis-nn"),
        ("mps3-an547", "reference", "boards", "-mps3-an547"), ("mps3-an547", "cmsis-nn", "boards", "-mps3-an547-cmsis-nn"),
        ("mps3-an547", "cmsis-nn + tfdistil fast paths", "perf", "-mps3-an547-cmsis-nn")]


def main():
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


if __name__ == "__main__":
    main()
