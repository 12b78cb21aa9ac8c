"""Summarise `experiments/fortunes/run.sh`: the teacher and every student on the 8-topic fortunes task.

    python experiments/fortunes/summarize.py [--runs runs-fortunes] [--out experiments/fortunes] [--report results]

Reads the teacher's logits cache (its test logits give the teacher's accuracy and macro-F1), each
run's eval_test.json (Keras) and tflite/eval_int8_{litert,tflm}_test.json, and writes
OUT/fortunes.json and OUT/fortunes.md. Every number is read from those files, none typed in.
"""
import argparse
import glob
import json
import os
import statistics
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from tfdistil.report.logsummary import read_record as read  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="runs-fortunes")
    ap.add_argument("--task", default="tasks/fortunes")
    ap.add_argument("--logits", default="cache/fortunes_minilm_logits.npz")
    ap.add_argument("--teacher", default="teachers/minilm-fortunes")
    ap.add_argument("--out", default="experiments/fortunes", help="where fortunes.json and .md go")
    ap.add_argument("--report", default="results", help="the report folder whose REPORT.md gets the section")
    args = ap.parse_args()
    from tfdistil.data.splits import TaskFiles, load_split
    from tfdistil.metrics import classification_report
    from tfdistil.teacher.logits_cache import read_logits
    files = TaskFiles(*(os.path.join(args.task, f"{s}.csv") for s in ("train", "dev", "test")))
    test = load_split(files, "test")
    task = json.load(open(os.path.join(args.task, "task.json")))
    logits, header = read_logits(args.logits, "test", test.sha256, len(test))
    teacher_report = classification_report(test.labels, logits.argmax(-1), test.label_names)
    meta = json.load(open(os.path.join(args.teacher, "teacher_meta.json")))
    rows = []
    for run in sorted(glob.glob(os.path.join(args.runs, "*", "metrics.json"))):
        d = os.path.dirname(run)
        m, keras = json.load(open(run)), read(os.path.join(d, "eval_test.json")) or {}
        student = m["student"]
        tfl = {rt: read(os.path.join(d, "tflite", f"eval_int8_{rt}_test.json")) or {} for rt in ("litert", "tflm")}
        manifests = glob.glob(os.path.join(d, "tflite", f"{student}_int8_L*.json"))
        manifest = json.load(open(manifests[0])) if manifests else {}
        fw = next((read(p) for p in sorted(glob.glob(os.path.join(d, "firmware", "*-test*.json")))), None) or {}
        mode = os.path.basename(d).split("-")[1]  # STUDENT-MODE-sSEED (experiments/fortunes/run.sh)
        rows.append({"run": os.path.basename(d), "student": student, "mode": mode, "seed": m["seed"],
                     "params": m["params"], "best_epoch": m["best_epoch"], "dev_accuracy": m["dev_accuracy"],
                     "test_accuracy": keras.get("accuracy"), "test_macro_f1": keras.get("macro_f1"),
                     "int8_bytes": manifest.get("bytes"), "int8_max_len": manifest.get("max_len"),
                     **{f"int8_{rt}_accuracy": tfl[rt].get("accuracy") for rt in tfl},
                     **{f"int8_{rt}_macro_f1": tfl[rt].get("macro_f1") for rt in tfl},
                     "int8_agreement_with_keras": tfl["tflm"].get("agreement_with_keras"),
                     "tflm_arena_bytes_min": tfl["tflm"].get("arena_bytes_min"),
                     "m4_accuracy": fw.get("accuracy"), "m4_macro_f1": fw.get("macro_f1"), "m4_n": fw.get("n"),
                     "m4_labels_identical_to_host_tflm": fw.get("labels_identical"),
                     "m4_flash_bytes": fw.get("flash_bytes"), "m4_ram_bytes": fw.get("ram_bytes"),
                     "m4_invoke_instructions_p50": fw.get("invoke_instructions_p50")})
    result = {"command": "python experiments/fortunes/summarize.py " + " ".join(sys.argv[1:]),
              "task": {k: task[k] for k in task if k != "sha256"}, "labels": list(test.label_names),
              "teacher": {"model": header.get("teacher"), "epochs": meta.get("epochs"),
                          "train_seconds": meta.get("train_seconds"), "dev_accuracy": meta.get("dev_accuracy"),
                          "test_accuracy": teacher_report["accuracy"], "test_macro_f1": teacher_report["macro_f1"]},
              "students": rows}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "fortunes.json.tmp"), "w") as f:
        json.dump(result, f, indent=2)
    os.replace(os.path.join(args.out, "fortunes.json.tmp"), os.path.join(args.out, "fortunes.json"))
    pct = lambda x: "–" if x is None else f"{100 * x:.2f}"
    t = result["teacher"]
    lines = ["| model | test accuracy | test macro-F1 | int8 LiteRT acc / F1 | int8 TFLM acc / F1 | "
             "Cortex-M4 (QEMU) acc / F1, same labels as host TFLM | .tflite bytes | M4 flash / RAM bytes |",
             "|---|---|---|---|---|---|---|---|",
             f"| teacher MiniLM-L6 ({t['epochs']} epochs, {t['train_seconds']:.0f} s) | {pct(t['test_accuracy'])} | "
             f"{pct(t['test_macro_f1'])} | – | – | – | – | – |"]
    order = {"cnn": 0, "bilstm": 1, "bilstm_attn": 2}
    modes = {"baseline": (0, "baseline"), "distill": (1, "distilled"), "augment": (2, "distilled + augmented")}
    for r in sorted(rows, key=lambda r: (order.get(r["student"], 9), modes.get(r["mode"], (9,))[0], r["seed"])):
        lines.append(f"| {r['student']} {modes.get(r['mode'], (0, r['mode']))[1]} (seed {r['seed']}) | "
                     f"{pct(r['test_accuracy'])} | {pct(r['test_macro_f1'])} | "
                     f"{pct(r['int8_litert_accuracy'])} / {pct(r['int8_litert_macro_f1'])} | "
                     f"{pct(r['int8_tflm_accuracy'])} / {pct(r['int8_tflm_macro_f1'])} | "
                     f"{pct(r['m4_accuracy'])} / {pct(r['m4_macro_f1'])}, "
                     f"{r['m4_labels_identical_to_host_tflm'] if r['m4_n'] else '–'}/{r['m4_n'] or '–'} | "
                     f"{r['int8_bytes'] or 0:,} | "
                     f"{r['m4_flash_bytes'] or 0:,} / {r['m4_ram_bytes'] or 0:,} |")
    # per student and mode over seeds: what "distillation helps" has to hold for
    summary = ["| student | mode | seeds | test accuracy | test macro-F1 | int8 TFLM macro-F1 | M4 = host TFLM labels |",
               "|---|---|---|---|---|---|---|"]
    groups = {}
    for r in rows:
        groups.setdefault((r["student"], r["mode"]), []).append(r)
    mean_std = lambda xs: "–" if not xs else (f"{100 * statistics.mean(xs):.2f} ± {100 * statistics.stdev(xs):.2f}"
                                              if len(xs) > 1 else f"{100 * xs[0]:.2f}")
    result["summary"] = []
    for (student, mode), rs in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 9),
                                                                      modes.get(kv[0][1], (9,))[0])):
        got = lambda k: [r[k] for r in rs if r.get(k) is not None]
        fw = [r for r in rs if r.get("m4_n")]
        result["summary"].append({"student": student, "mode": mode, "seeds": [r["seed"] for r in rs],
                                  **{k: got(k) for k in ("test_accuracy", "test_macro_f1", "int8_tflm_macro_f1")}})
        summary.append(f"| {student} | {modes.get(mode, (0, mode))[1]} | {len(rs)} | {mean_std(got('test_accuracy'))} | "
                       f"{mean_std(got('test_macro_f1'))} | {mean_std(got('int8_tflm_macro_f1'))} | "
                       + (f"{sum(r['m4_labels_identical_to_host_tflm'] for r in fw)}/{sum(r['m4_n'] for r in fw)}"
                          if fw else "–") + " |")
    with open(os.path.join(args.out, "fortunes.json.tmp"), "w") as f:
        json.dump(result, f, indent=2)
    os.replace(os.path.join(args.out, "fortunes.json.tmp"), os.path.join(args.out, "fortunes.json"))
    md = "\n".join(summary) + "\n\nEvery run:\n\n" + "\n".join(lines)
    from tfdistil.report.sections import write_section
    t = result["task"]
    intro = (f"Debian's `fortunes` package, {len(test.label_names)} topics ({', '.join(test.label_names)}), "
             f"{sum(sum(t['counts'][s].values()) for s in ('train', 'dev', 'test')):,} deduplicated quotations split "
             f"{'/'.join(str(sum(t['counts'][s].values())) for s in ('train', 'dev', 'test'))} "
             f"(stratified, seed {t.get('seed', 0)}; `python experiments/fortunes/make_fortunes_task.py`). Runs: "
             "`SEEDS=\"0 1 2\" bash experiments/fortunes/run.sh`; logs in `experiments/fortunes/logs/`. The Cortex-M4 column "
             "is the firmware on QEMU `mps2-an386` over the first test texts of seed 0's int8 models.")
    body = (f"## Your own task: fortunes topics ({len(test.label_names)} classes)\n\n{intro}\n\n"
            f"`{result['command']}`\n\n{md}\n")
    with open(os.path.join(args.out, "fortunes.md"), "w") as f:
        f.write(body.replace("## ", "# ", 1))
    write_section(args.report, "fortunes", body)
    print(md)


if __name__ == "__main__":
    main()
