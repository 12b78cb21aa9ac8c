#!/usr/bin/env python3
"""The paper-size BiLSTM-Attn distilled from MPNet, every run on record -> experiments/paper_attn_mpnet/paper_attn_mpnet.md.

Reads experiments/paper_attn_mpnet/logs/mpnet/ and experiments/paper_attn_mpnet/logs/mpnet-f2/: fit-bilstm_attn-MODE-TAG-sSEED.log (its last
line is the metrics JSON of `tfdistil fit`/`fit-stream --json`; a line "embeddings: ... start
from DIR's input embeddings" marks a run started with --embed-init) and, where it exists, the
evaltflite-...-tflm.log beside it (the int8 flatbuffer in TFLite Micro, all 1,821 test sentences).
One row per run, then mean ± std over seeds for every tag run with three or more. Nothing is typed
in by hand.

    .venv/bin/python experiments/paper_attn_mpnet/summarize.py [--out experiments/paper_attn_mpnet/paper_attn_mpnet.md]
"""
import glob
import os
import re

from tfdistil.report.logsummary import last_json, write_summary
from tfdistil.report.stats import mean_std, pct_ms

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOG_DIRS = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "logs", d) for d in ("mpnet", "mpnet-f2")]
INIT = re.compile(r"embeddings: \d+ of \d+ words start from (.+)'s input embeddings")


def rows(log_dirs=LOG_DIRS):
    out = []
    for logs in log_dirs:
        for path in sorted(glob.glob(os.path.join(logs, "fit-bilstm_attn-*-s*.log"))):
            m = re.match(r"fit-(bilstm_attn-.+)-s(\d+)\.log$", os.path.basename(path))
            metrics = last_json(path)
            if not m or not metrics or "test_accuracy" not in metrics:
                continue  # a run still training, or stopped
            with open(path, encoding="utf-8") as f:
                init = INIT.search(f.read())
            tflm_log = os.path.join(logs, f"evaltflite-{m.group(1)}-s{m.group(2)}-tflm.log")
            tflm = last_json(tflm_log) if os.path.isfile(tflm_log) else None
            out.append({"name": m.group(1), "seed": int(m.group(2)), "params": metrics["params"],
                        "rows": metrics["train_rows"], "embed_init": init.group(1) if init else "random",
                        "best_epoch": metrics["best_epoch"], "dev": metrics["dev_accuracy"],
                        "test": metrics["test_accuracy"], "tflm_test": tflm["accuracy"] if tflm else None})
    return out


def markdown(table):
    pct = lambda x: "—" if x is None else f"{100 * x:.2f}"  # noqa: E731
    lines = ["# Paper-size BiLSTM-Attn distilled from the MPNet teacher (SST-2)", "",
             "Written by `python experiments/paper_attn_mpnet/summarize.py` from `experiments/paper_attn_mpnet/logs/mpnet/` and "
             "`experiments/paper_attn_mpnet/logs/mpnet-f2/`. Embedding 64, hidden 64 (the paper's sizes); the name gives the "
             "transfer set (mpnet = the 67,349 train rows; f2 = `augment --factor 2`, each further f4 = "
             "`augment --factor 4` with seed 1, 2, 3 in turn), g05 the learning "
             "rate halved each epoch, ti the embeddings started from the teacher's (`--embed-init`), sw a "
             "vocabulary of the wordpieces train words split into instead of words (`--subwords`). Dev picks "
             "the epoch; TFLM = the int8 flatbuffer in TFLite Micro on all 1,821 test sentences.", "",
             "| run | seed | rows | params | embeddings start | best epoch | dev | test | TFLM test |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in table:
        lines.append(f"| {r['name']} | {r['seed']} | {r['rows']:,} | {r['params']:,} | {r['embed_init']} | "
                     f"{r['best_epoch']} | {pct(r['dev'])} | {pct(r['test'])} | {pct(r['tflm_test'])} |")
    groups = {}
    for r in table:
        groups.setdefault(r["name"], []).append(r)
    full = {n: g for n, g in groups.items() if len(g) >= 3}
    if full:
        lines += ["", "Mean ± sample std over seeds (as in results/REPORT.md), runs with three seeds or more:", "",
                  "| run | seeds | test | TFLM test |", "| --- | --- | --- | --- |"]
        for name, g in full.items():
            tflm = [r["tflm_test"] for r in g]
            tflm_cell = "—" if None in tflm else pct_ms(*mean_std(tflm)[:2])
            lines.append(f"| {name} | {', '.join(str(r['seed']) for r in g)} | "
                         f"{pct_ms(*mean_std([r['test'] for r in g])[:2])} | {tflm_cell} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    write_summary(__doc__, os.path.join(os.path.dirname(os.path.abspath(__file__)), "paper_attn_mpnet.md"), rows, markdown,
                  f"no finished fit logs in {', '.join(LOG_DIRS)}", argv)


if __name__ == "__main__":
    main()
