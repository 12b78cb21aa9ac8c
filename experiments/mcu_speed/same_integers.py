"""Are the new fast paths the same integers? Compare this run's per-sentence int8 outputs, labels and tokens
(results/firmware/perf/mcu-speed/*-test.json, written by run.sh) with the same files at an earlier commit.

    python experiments/mcu_speed/same_integers.py 780d80c    # the first fused step, as merged
"""
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit("usage: same_integers.py REV")
    rev, bad = argv[0], 0
    for path in sorted(glob.glob(os.path.join(ROOT, "results", "firmware", "perf", "mcu-speed", "*-test.json"))):
        rel = os.path.relpath(path, ROOT)
        old = subprocess.run(["git", "show", f"{rev}:{rel}"], capture_output=True, text=True, cwd=ROOT)
        if old.returncode != 0:
            sys.exit(f"error: {rel} is not in {rev}")
        a, b = json.loads(old.stdout)["per_sentence"], json.load(open(path, encoding="utf-8"))["per_sentence"]
        cells = []
        for key in ("int8", "label", "tokens"):
            same = sum(x == y for x, y in zip(a[key], b[key]))
            bad += same != len(b[key])
            cells.append(f"{key} {same}/{len(b[key])}")
        print(f"{rel}: identical to {rev}: {', '.join(cells)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
