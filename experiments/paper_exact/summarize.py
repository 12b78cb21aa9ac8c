"""Summarise the `--paper-exact` runs (the paper's sizes: 1 CNN filter per kernel size, a 9,825-word
vocabulary) from their committed logs, beside the paper's Table 2 and Table 3 values.

    python experiments/paper_exact/summarize.py [--logs experiments/paper_exact/logs/paperexact] [--out experiments/paper_exact] [--report results]

Reads LOGS/fit-*.log (last line: the run's metrics JSON) and LOGS/evaltflite-*-{litert,tflm}.log,
writes OUT/paper_exact.json and OUT/paper_exact.md. Runs that did not finish are listed as missing.
"""
import argparse
import glob
import json
import os
import re
import sys

from tfdistil.report.logsummary import last_json

PAPER = {  # Table 2 (test accuracy) and Table 3 (parameters) of the paper in ../shared/seeds/
    "cnn": {"baseline": 79.47, "distilled": 80.39, "params": "0.63M"},
    "bilstm": {"baseline": 83.03, "distilled": 84.40, "params": "–"},
    "bilstm_attn": {"baseline": 85.21, "distilled": 85.37, "params": "0.75M"},
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--logs", default="experiments/paper_exact/logs/paperexact")
    ap.add_argument("--out", default="experiments/paper_exact", help="where paper_exact.json and .md go")
    ap.add_argument("--report", default="results", help="the report folder whose REPORT.md gets the section")
    args = ap.parse_args()
    rows = []
    for student in PAPER:
        for mode in ("baseline", "distill"):
            fits = sorted(glob.glob(os.path.join(args.logs, f"fit-{student}-{mode}-paperexact-s*.log")))
            for fit_log in fits:
                seed = re.search(r"-s(\d+)\.log$", fit_log).group(1)
                m = last_json(fit_log)
                name = f"{student}-{mode}-paperexact-s{seed}"
                tfl = {rt: last_json(os.path.join(args.logs, f"evaltflite-{name}-{rt}.log")) or {}
                       for rt in ("litert", "tflm")}
                rows.append({"run": name, "student": student, "distilled": mode == "distill", "seed": int(seed),
                             "finished": bool(m and "test_accuracy" in m),
                             **({k: m.get(k) for k in ("params", "vocab_size", "best_epoch", "dev_accuracy",
                                                       "test_accuracy", "seconds_per_epoch")} if m else {}),
                             "int8_bytes": tfl["tflm"].get("model_bytes"),
                             "int8_litert_accuracy": tfl["litert"].get("accuracy"),
                             "int8_tflm_accuracy": tfl["tflm"].get("accuracy"),
                             "log": fit_log})
    result = {"command": "python experiments/paper_exact/summarize.py " + " ".join(sys.argv[1:]), "paper": PAPER,
              "runs": rows}
    os.makedirs(args.out, exist_ok=True)
    tmp = os.path.join(args.out, "paper_exact.json.tmp")
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, os.path.join(args.out, "paper_exact.json"))
    pct = lambda x: "–" if x is None else f"{100 * x:.2f}"
    lines = ["| run | params (paper) | vocabulary | best epoch | dev | test (paper) | int8 LiteRT / TFLM test | int8 bytes |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        paper = PAPER[r["student"]]
        if not r["finished"]:
            lines.append(f"| {r['run']} | – ({paper['params']}) | – | – | – | not finished "
                         f"({paper['distilled' if r['distilled'] else 'baseline']:.2f}) | – | – |")
            continue
        lines.append(f"| {r['run']} | {r['params']:,} ({paper['params']}) | {r['vocab_size']:,} | {r['best_epoch']} | "
                     f"{pct(r['dev_accuracy'])} | {pct(r['test_accuracy'])} "
                     f"({paper['distilled' if r['distilled'] else 'baseline']:.2f}) | "
                     f"{pct(r['int8_litert_accuracy'])} / {pct(r['int8_tflm_accuracy'])} | {r['int8_bytes'] or 0:,} |")
    md = "\n".join(lines)
    body = ("## The paper's sizes (`tfdistil fit --paper-exact`), seed 0\n\n"
            "1 CNN filter per kernel size and a 9,825-word vocabulary, as the paper's parameter counts imply "
            "(our defaults: 64 filters, every train word). "
            f"`{result['command']}` (runs: `TAG=paperexact FIT_FLAGS=--paper-exact "
            "LOGITS=tfdistil/assets/sst2_minilm_logits.npz SEEDS=0 JOBS=1 RUNS=runs-paperexact "
            "LOGS=experiments/paper_exact/logs/paperexact bash experiments/paper_tables/reproduce.sh`)\n\n" + md + "\n")
    with open(os.path.join(args.out, "paper_exact.md"), "w") as f:
        f.write(body.replace("## ", "# ", 1))
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    from tfdistil.report.sections import write_section
    write_section(args.report, "paper_exact", body)
    print(md)


if __name__ == "__main__":
    main()
