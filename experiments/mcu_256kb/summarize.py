#!/usr/bin/env python3
"""Every microcontroller-sized student run on record, from its committed logs -> results/mcu_256kb.md.

Reads experiments/mcu_256kb/logs/mcu/tuned-NAME-stream-sSEED.log (its last line: the metrics JSON of
`tfdistil fit-stream --json`) and, where it exists, evaltflite-NAME-stream-sSEED-tflm.log (the int8
model in TFLM on the test split). Nothing is typed in by hand: rerunning a run rewrites its row.

    .venv/bin/python experiments/mcu_256kb/summarize.py [--out results/mcu_256kb.md]
"""
import glob
import os
import re

from tfdistil.report.logsummary import last_json, write_summary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "logs", "mcu")


def rows():
    out = []
    for path in sorted(glob.glob(os.path.join(LOGS, "tuned-*-stream-s*.log"))):
        m = re.match(r"tuned-(.+)-stream-s(\d+)\.log$", os.path.basename(path))
        metrics = last_json(path)
        if not m or not metrics:
            continue
        name, seed = m.group(1), int(m.group(2))
        tflm_log = os.path.join(LOGS, f"evaltflite-{name}-stream-s{seed}-tflm.log")
        tflm = last_json(tflm_log) if os.path.isfile(tflm_log) else None
        out.append({"name": name, "seed": seed, "transfer_set": metrics.get("teacher_logits"),
                    "rows": metrics.get("train_rows"), "params": metrics["params"],
                    "vocab_size": metrics["vocab_size"], "best_epoch": metrics["best_epoch"],
                    "dev": metrics["dev_accuracy"], "test": metrics["test_accuracy"],
                    "tflm_test": tflm["accuracy"] if tflm else None, "log": os.path.relpath(path, ROOT)})
    return out


def markdown(table):
    pct = lambda x: "—" if x is None else f"{100 * x:.2f}"  # noqa: E731
    lines = ["# Microcontroller-sized BiLSTM-Attn runs (SST-2)", "",
             "Written by `python experiments/mcu_256kb/summarize.py` from `experiments/mcu_256kb/logs/mcu/` (one row per "
             "`fit-stream` run; TFLM = its int8 flatbuffer in the TFLite Micro interpreter, all 1,821 test "
             "sentences). The name says embedding (e), hidden (h), attention width (a, default 2h) and "
             "vocabulary (v: words, or with _sw the wordpieces train words split into, `--subwords`); "
             "configs in `experiments/mcu_256kb/configs/`. Dev picks the epoch within a run.", "",
             "| run | seed | transfer set (rows) | params | best epoch | dev | test | TFLM test |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in table:
        lines.append(f"| {r['name']} | {r['seed']} | {r['transfer_set']} ({r['rows']:,}) | {r['params']:,} | "
                     f"{r['best_epoch']} | {pct(r['dev'])} | {pct(r['test'])} | {pct(r['tflm_test'])} |")
    groups = {}
    for r in table:
        groups.setdefault((r["name"], r["transfer_set"]), []).append(r)
    full = {k: g for k, g in groups.items() if len(g) >= 3 and None not in [r["tflm_test"] for r in g]}
    if full:
        from tfdistil.report.stats import mean_std, pct_ms
        lines += ["", "Mean ± sample std over seeds, settings with three seeds or more:", "",
                  "| run | seeds | test | TFLM test |", "| --- | --- | --- | --- |"]
        for (name, _), g in full.items():
            lines.append(f"| {name} | {', '.join(str(r['seed']) for r in g)} | "
                         f"{pct_ms(*mean_std([r['test'] for r in g])[:2])} | "
                         f"{pct_ms(*mean_std([r['tflm_test'] for r in g])[:2])} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    write_summary(__doc__, os.path.join(ROOT, "results", "mcu_256kb.md"), rows, markdown,
                  f"no fit-stream logs in {LOGS}", argv)


if __name__ == "__main__":
    main()
