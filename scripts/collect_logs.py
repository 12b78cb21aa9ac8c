#!/usr/bin/env python3
"""Copy run logs into results/logs/ without progress-bar noise, so the commands and
outputs behind every committed figure live in the repo (logs/ itself is gitignored)."""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAR = re.compile(r"(\d+/\d+ \[|it/s|s/it|━|\x1b\[)")
# Messages that can share a terminal line with a progress bar.
MESSAGE = re.compile(r"(step \d+: dev accuracy [0-9.]+|epoch \d+/\d+: loss .*?\(\d+\.\d s\)|resuming .*)")


def clean(text):
    lines = []
    for line in text.replace("\r", "\n").split("\n"):
        if not line.strip() or line.startswith(("I0000", "W0000", "E0000", "WARNING: All log")):
            continue
        if BAR.search(line):
            lines += [m.group(0) for m in MESSAGE.finditer(line)]
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def main(patterns):
    out_dir = os.path.join(ROOT, "results", "logs")
    os.makedirs(out_dir, exist_ok=True)
    for pattern in patterns or ["logs/*.log"]:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            with open(path, errors="replace") as f:
                text = clean(f.read())
            # logs/recipe/x.log -> results/logs/recipe/x.log: same-named logs of other run folders stay apart
            rel = os.path.relpath(path, os.path.join(ROOT, "logs"))
            dest = os.path.join(out_dir, os.path.basename(path) if rel.startswith("..") else rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "w") as f:
                f.write(text)
            print(os.path.relpath(dest, ROOT))


if __name__ == "__main__":
    main(sys.argv[1:])
