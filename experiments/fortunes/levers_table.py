"""levers.json (experiments/fortunes/levers.py) as a Markdown table: each lever's selection
macro-F1 and accuracy as mean +- std over its seeds (sample std), seeds listed, best epochs; and,
when every row was also scored on the task's unused dev.csv (levers.py --also), those two as well.

    python experiments/fortunes/levers_table.py experiments/fortunes/levers-issue34.json [MORE.json ...]
"""
import collections
import json
import statistics
import sys


def rows(levers):
    by = collections.OrderedDict()
    for r in levers:
        by.setdefault(r["lever"], []).append(r)
    for name, runs in by.items():
        runs = sorted(runs, key=lambda r: r["seed"])
        f1 = [100 * r["selection_macro_f1"] for r in runs]
        acc = [100 * r["selection_accuracy"] for r in runs]
        yield name, runs, f1, acc


def fmt(values):
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def markdown(levers):
    also = bool(levers) and all("also_macro_f1" in r for r in levers)
    out = ["| lever | seeds | model + C vocab | best epochs | selection macro-F1 | selection accuracy |"
           + (" dev.csv macro-F1 | dev.csv accuracy |" if also else ""),
           "| --- | --- | --- | --- | --- | --- |" + (" --- | --- |" if also else "")]
    for name, runs, f1, acc in rows(levers):
        size = runs[0]["model_bytes"] + runs[0]["c_vocab_bytes"]
        line = (f"| {name} | {', '.join(str(r['seed']) for r in runs)} | {size:,} B | "
                f"{', '.join(str(r['best_epoch']) for r in runs)} | {fmt(f1)} | {fmt(acc)} |")
        if also:
            line += (f" {fmt([100 * r['also_macro_f1'] for r in runs])} |"
                     f" {fmt([100 * r['also_accuracy'] for r in runs])} |")
        out.append(line)
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: levers_table.py LEVERS_JSON [MORE_JSON ...]")
    levers = []
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            levers += json.load(f)
    print(markdown(levers))
