"""The table of experiments/ray_throughput/run.sh: sentences/s of each engine, ratios, Ray's overhead per shard.

Usage: python experiments/ray_throughput/summarize.py LOGS_DIR SHARDS_ROOT  (prints Markdown)
Every figure comes from the runs' logs (their `--json` line and measured wall) and manifests;
the logits of every Ray folder are compared with the local engine's.
"""
import os
import sys

import numpy as np

from tfdistil.report.logsummary import last_json

RUNS = [("local", "local engine (TF, 2 threads)"), ("ray1", "Ray, 1 worker x 1 CPU"),
        ("ray2", "Ray, 2 workers x 1 CPU"), ("ray1x2", "Ray, 1 worker x 2 CPUs")]


def parse(log):
    summary, wall, load = last_json(log), None, []
    for line in open(log, encoding="utf-8"):
        if line.startswith("# wall_seconds"):
            wall = float(line.split()[-1])
        elif "load average:" in line:
            load.append(line.split("load average:")[1].split(",")[0].strip())
    return summary, wall, load


def logits(folder):
    from tfdistil.transfer.shards import read_shards
    rows = list(read_shards(folder, shuffle_buffer=0)[0].as_numpy_iterator())
    return [r["sentence"] for r in rows], np.array([r["teacher_logits"] for r in rows])


def main(logs, root):
    got = {}
    for name, label in RUNS:
        path = os.path.join(logs, f"{name}.log")
        if os.path.isfile(path):
            got[name] = (label, *parse(path))
    base = got["local"][1]
    base_rate = base["rows_labelled_now"] / got["local"][2]
    ref_sentences, ref = logits(os.path.join(root, "local"))
    print("| run | rows | command wall s | end-to-end sentences/s | vs local | labelling sentences/s "
          "| Ray start-up s | Ray overhead per shard s | max abs logit diff vs local | load avg start/end |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, (label, s, wall, load) in got.items():
        rate = s["rows_labelled_now"] / wall
        ray = s.get("ray") or {}
        sentences, z = logits(os.path.join(root, name))
        assert sentences == ref_sentences, name
        diff = float(np.abs(z - ref).max())
        print(f"| {label} | {s['rows_labelled_now']:,} | {wall:.1f} | {rate:.1f} | {rate / base_rate:.2f}x "
              f"| {s['sentences_per_second']} | {ray.get('startup_seconds', '-')} "
              f"| {ray.get('overhead_seconds_per_shard', '-')} | {diff:.2e} | {' / '.join(load)} |")
    print()
    print("end-to-end = rows / wall of the whole command (imports, Ray start, teacher load, writing). "
          "labelling = the engine's own figure: local = tokenise + forward only; Ray = rows / wall from all "
          "workers ready to the last shard written. Overhead per shard = driver's dispatch-to-result time "
          "minus the worker's own labelling time (transfer, scheduling, pickling).")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
