#!/usr/bin/env python3
"""Every committed int8 model through tflite/classify.py on x86 and on a 64-bit Raspberry Pi's runtimes, side by side.

    python experiments/pi/check_pi_aarch64.py [--configs tflite-runtime/pi4,tflite-runtime/pi5,ai-edge-litert/pi4,ai-edge-litert/pi5]
        [--data ../shared/data/sst2] [--limit N] [--out results/pi_aarch64_check.json]
    python experiments/pi/check_pi_aarch64.py --merge results/pi_aarch64_check.json PART.json [PART.json ...]
    python experiments/pi/check_pi_aarch64.py --table results/pi_aarch64_check.json > results/pi_aarch64_check.md

The aarch64 side runs in the arm64 Debian 12 root of tfdistil.edge.host.pi_root (built once, ~10-15 min,
cached), under qemu user mode with QEMU_CPU = cortex-a72 (pi4) or cortex-a76 (pi5). The x86 side
is classify.py in this Python (ai-edge-litert, builtin kernels). Compared: labels and accuracy, and
every differing sentence with both probabilities; the printed digits are only counted. The JSON is
rewritten after each run, and a rerun skips the runs it already holds (same split size).
"""
import argparse
import glob
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def table(paths):
    """Markdown: one row per committed model, x86 and every aarch64 configuration side by side."""
    merged, n = {}, None
    for path in paths:
        with open(path) as f:
            r = json.load(f)
        n = n or r["n"]
        for m, row in r["models"].items():
            merged.setdefault(m, {}).update(row)
    configs = sorted({k for row in merged.values() for k in row if "/" in k})
    lines = [f"| model (SST-2 test, n = {n}) | recorded | x86 ai-edge-litert | " +
             " | ".join(f"aarch64 {c}: accuracy, labels = x86" for c in configs) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in configs) + " |"]
    for m, row in sorted(merged.items()):
        cells = [f"{100 * row[c]['accuracy']:.2f} %, {row[c]['labels_identical']}/{row[c]['n']} "
                 f"(p digits = x86 on {row[c]['printed_p_identical']})" +
                 "".join(f" (#{d['index']}: x86 p {d['p_x86']}, margin {d['margin_x86']}, aarch64 {d['p_aarch64']})"
                         for d in row[c]["differing"])
                 if c in row else "not run" for c in configs]
        rec = f"{100 * row['recorded_litert_accuracy']:.2f} %" if row.get("recorded_litert_accuracy") else "-"
        lines.append(f"| {m.split('/')[2]} | {rec} | {100 * row['x86_accuracy']:.2f} % | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def x86_answers(folders, tsv, cache):
    """classify_many on x86 for every folder, computed once and kept in `cache` (locked: parallel runs share it)."""
    import fcntl

    import numpy as np
    from tfdistil.edge.host.pi_check import classify_many_x86
    with open(cache + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rel = {f: os.path.relpath(f, ROOT) for f in folders}
        if os.path.isfile(cache):
            with open(cache) as f:
                kept = json.load(f)
            if all(r in kept for r in rel.values()):
                return {f: (np.array(kept[r][0]), kept[r][1], kept[r][2]) for f, r in rel.items()}
        x86 = classify_many_x86(folders, tsv)
        with open(cache, "w") as f:
            json.dump({rel[k]: [v[0].tolist(), v[1], v[2]] for k, v in x86.items()}, f)
        return x86


def merge(out, paths):
    """One JSON of several runs (e.g. one pairing each, run side by side): every run's command kept."""
    merged = {"commands": [], "process_seconds": {}, "models": {}}
    for path in paths:
        with open(path) as f:
            r = json.load(f)
        for k in ("split", "n", "how"):
            if merged.setdefault(k, r[k]) != r[k]:
                raise SystemExit(f"error: {path}: {k} {r[k]!r} differs from {merged[k]!r}")
        merged["commands"].append({"command": r["command"], "pairings": sorted(r["process_seconds"]), "json": path})
        merged["process_seconds"].update(r["process_seconds"])
        for m, row in r["models"].items():
            merged["models"].setdefault(m, {}).update(row)
    merged["command"] = " ; ".join(c["command"] for c in merged["commands"])
    with open(out, "w") as f:
        json.dump(merged, f, indent=1)
        f.write("\n")


def main():
    if sys.argv[1:2] == ["--table"]:
        sys.stdout.write(table(sys.argv[2:]))
        return
    if sys.argv[1:2] == ["--merge"]:
        merge(sys.argv[2], sys.argv[3:])
        return
    from check_tflite_runtime import recorded_accuracies
    from tfdistil.data.splits import read_tsv
    from tfdistil.edge.host.pi_check import classify_many_aarch64, compare
    from tfdistil.edge.host.pi_root import ensure_root
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="tflite-runtime/pi4,tflite-runtime/pi5,ai-edge-litert/pi4,ai-edge-litert/pi5")
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "sst2"))
    ap.add_argument("--limit", type=int, default=None, help="only the first N test sentences")
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "pi_aarch64_check.json"))
    ap.add_argument("--x86-cache", default=None, help="x86 answers kept between runs (default: in the temp folder)")
    args = ap.parse_args()
    tsv = os.path.join(args.data, "test.tsv")
    if args.limit:
        tsv = os.path.join(os.path.dirname(os.path.abspath(args.out)), ".test-first.tsv")
        with open(os.path.join(args.data, "test.tsv"), encoding="utf-8") as f, open(tsv, "w", encoding="utf-8") as g:
            g.write("".join(line for _, line in zip(range(args.limit + 1), f)))
    split = read_tsv(tsv, "test")
    t0 = time.time()
    root, build_seconds = ensure_root()
    recorded = recorded_accuracies()
    folders = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(ROOT, "results", "models", "*", "*int8*.tflite")))
    models = {f: os.path.relpath(glob.glob(os.path.join(f, "*int8*.tflite"))[0], ROOT) for f in folders}
    result = {"command": "python experiments/pi/check_pi_aarch64.py " + " ".join(sys.argv[1:]), "split": "test",
              "n": len(split.sentences), "root_build_seconds_this_run": round(build_seconds),
              "how": "one classify_many.py process per runtime/CPU loading every model (tflite/classify_many.py)",
              "process_seconds": {}, "models": {}}
    if os.path.isfile(args.out):  # resume: keep the pairings an earlier, stopped check finished on the same split
        with open(args.out) as f:
            old = json.load(f)
        if old.get("n") == result["n"] and old.get("how") == result["how"]:
            result["models"], result["process_seconds"] = old["models"], old.get("process_seconds", {})
    x86 = x86_answers(folders, tsv, args.x86_cache or os.path.join(
        tempfile.gettempdir(), f"tfdistil-pi-x86-{len(split.sentences)}.json"))
    print(f"x86: {len(folders)} models ready after {time.time() - t0:.0f} s (root ready after {build_seconds:.0f} s)",
          flush=True)
    for f in folders:
        m = models[f]
        result["models"].setdefault(m, {}).update({"recorded_litert_accuracy": recorded.get(m), "x86_runtime": x86[f][2],
                                                   "x86_accuracy": round(float((x86[f][0] == split.labels).mean()), 6)})

    def save():
        with open(args.out + ".tmp", "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        os.replace(args.out + ".tmp", args.out)

    for config in args.configs.split(","):
        runtime, pi = config.split("/")
        todo = [f for f in folders if config not in result["models"][models[f]]]  # resume: per model
        if not todo:
            continue

        def keep(f, arm, seconds, config=config):
            c = compare(x86[f], arm, list(split.sentences), split.labels)
            c["seconds"] = seconds
            result["models"][models[f]][config] = c
            print(f"{models[f]} {config}: {c['runtime']}: labels = x86 {c['labels_identical']}/{c['n']}, accuracy "
                  f"{c['accuracy']:.4f} (x86 {c['accuracy_x86']:.4f}, recorded {recorded.get(models[f])}), printed p "
                  f"identical {c['printed_p_identical']}, differing "
                  f"{[(d['index'], d['p_x86'], d['p_aarch64'], d['margin_x86']) for d in c['differing']]} "
                  f"({c['seconds']} s)", flush=True)
            save()
        _, _, wall = classify_many_aarch64(root, runtime, pi, todo, tsv, on_model=keep)
        result["process_seconds"][config] = round(wall + result["process_seconds"].get(config, 0), 1)
        print(f"{config}: one process, {len(todo)} models, {wall:.0f} s wall", flush=True)
        save()
    if args.limit:
        os.remove(tsv)
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
