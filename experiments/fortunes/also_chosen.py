"""A finished distil run's chosen recipe (its seed models, before any refit) scored on another labelled
file no choice used (fortunes: the task's dev.csv), int8 in TFLite Micro as distil scores selection:
the baseline row beside levers.py's `--also` columns, without training the recipe again; and the
run's teacher on the same file (its lead there is a third estimate of the gap, beside selection and test).

    python experiments/fortunes/also_chosen.py --distil runs/fortunes-distil-seeds --also tasks/fortunes/dev.csv
"""
import argparse
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--distil", required=True, help="a finished `tfdistil distil` --out")
    ap.add_argument("--also", required=True, help="a labelled CSV no choice has used")
    a = ap.parse_args()
    try:
        with open(os.path.join(a.distil, "report.json"), encoding="utf-8") as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        print(f"error: {a.distil}: not a finished distil run ({e})", file=sys.stderr)
        sys.exit(2)
    if not os.path.isfile(a.also):
        print(f"error: --also {a.also}: file not found", file=sys.stderr)
        sys.exit(2)
    from tfdistil.data.splits import TaskFiles
    from tfdistil.edge.host.evaluate import evaluate_tflite
    data = os.path.join(a.distil, "data")
    also = TaskFiles(os.path.join(data, "train.jsonl"), os.path.join(data, "dev.jsonl"), a.also, "text", "label")
    for s in r["seeds"]:
        run = os.path.dirname(os.path.dirname(s["model"]))
        ev = evaluate_tflite(s["model"], also, "test", runtime="tflm", run_dir=run)
        print(json.dumps({"recipe": r["chosen"]["name"], "seed": s["seed"],
                          "selection_accuracy": s["selection"]["accuracy"], "selection_macro_f1": s["selection"]["macro_f1"],
                          "also_accuracy": round(ev["accuracy"], 4), "also_macro_f1": round(ev["macro_f1"], 4),
                          "also_n": ev["n"]}), flush=True)
    with open(os.path.join(a.distil, "stages", "teacher.json"), encoding="utf-8") as f:
        teacher_dir = json.load(f)["result"]["dir"]
    from tfdistil.data.splits import load_split
    from tfdistil.metrics import classification_report
    from tfdistil.teacher.model import load_teacher, predict_logits
    split = load_split(also, "test")
    model, tokenizer = load_teacher(teacher_dir)
    pred = predict_logits(model, tokenizer, split.sentences, max_len=r["settings"].get("teacher_max_len", 128)).argmax(-1)
    rep = classification_report(split.labels, pred, split.label_names)
    print(json.dumps({"teacher": teacher_dir, "also_accuracy": round(rep["accuracy"], 4),
                      "also_macro_f1": round(rep["macro_f1"], 4), "also_n": len(pred)}), flush=True)


if __name__ == "__main__":
    main()
