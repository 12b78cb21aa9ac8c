#!/usr/bin/env python3
"""What the teacher does to a student distilled on the SST-2 train rows alone -> experiments/paper_attn_mpnet/teacher_effect.md.

Same students, same recipe (the paper's: 20 epochs, α 0.5, Adam 1e-3, StepLR 0.9, batch 32), only
the soft targets differ: the MiniLM-L6 teacher's (experiments/paper_tables/logs/fit-STUDENT-distill-sSEED.log, Table 2)
against the MPNet-base teacher's (experiments/paper_attn_mpnet/logs/mpnet/fit-STUDENT-distill-mpnet-sSEED.log, made by
`TAG=mpnet LOGITS=cache/sst2_mpnet_logits.npz STUDENTS=... MODES=distill RUNS=runs-mpnet
LOGS=experiments/paper_attn_mpnet/logs/mpnet JOBS=1 bash experiments/paper_tables/reproduce.sh`). Each teacher's own test accuracy comes
from the provenance JSON shipped beside its soft targets. This is the measurement behind command
(a)'s choice of shipped soft targets. Nothing is typed in by hand.

    .venv/bin/python experiments/paper_attn_mpnet/teacher_effect.py [--out experiments/paper_attn_mpnet/teacher_effect.md]
"""
import glob
import json
import os
import re

from tfdistil.report.logsummary import last_json, write_summary
from tfdistil.report.stats import mean_std, pct_ms

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.path.join(ROOT, "tfdistil", "assets")
# teacher name -> (folder of its fit logs, the log name's tag after "distill", its provenance JSON)
TEACHERS = {
    "MiniLM-L6": (os.path.join(ROOT, "experiments", "paper_tables", "logs"), "", os.path.join(ASSETS, "sst2_minilm_logits.json")),
    "MPNet-base": (os.path.join(os.path.dirname(os.path.abspath(__file__)), "logs", "mpnet"), "-mpnet",
                   os.path.join(ASSETS, "sst2_mpnet_logits.json")),
}
STUDENTS = ("cnn", "bilstm", "bilstm_attn")


def rows(teachers=TEACHERS):
    """One row per (teacher, student) with at least one finished seed: per-seed test accuracies."""
    out = []
    for teacher, (logs, tag, info) in teachers.items():
        with open(info, encoding="utf-8") as f:
            teacher_test = json.load(f)["accuracy"]["test"]
        for student in STUDENTS:
            seeds = {}
            for path in sorted(glob.glob(os.path.join(logs, f"fit-{student}-distill{tag}-s*.log"))):
                m = re.search(r"-s(\d+)\.log$", path)
                metrics = last_json(path)
                if m and metrics and "test_accuracy" in metrics and metrics.get("train_rows") == 67349:
                    seeds[int(m.group(1))] = metrics["test_accuracy"]
            if seeds:
                out.append({"teacher": teacher, "teacher_test": teacher_test, "student": student,
                            "seeds": dict(sorted(seeds.items()))})
    return out


def markdown(table):
    lines = ["# The teacher's effect on students distilled from the SST-2 train rows", "",
             "Written by `python experiments/paper_attn_mpnet/teacher_effect.py` from the fit logs named in its docstring. The paper's "
             "recipe on the 67,349 train rows; only the teacher's soft targets differ. Test = the Keras student's "
             "best dev epoch on all 1,821 test sentences; mean ± sample std where three seeds exist.", "",
             "| student | teacher (its test) | seeds | test per seed | mean |", "| --- | --- | --- | --- | --- |"]
    for r in sorted(table, key=lambda r: (STUDENTS.index(r["student"]), r["teacher"] != "MiniLM-L6")):
        tests = list(r["seeds"].values())
        mean = pct_ms(*mean_std(tests)[:2]) if len(tests) >= 3 else "—"
        lines.append(f"| {r['student']} | {r['teacher']} ({100 * r['teacher_test']:.2f}) | "
                     f"{', '.join(map(str, r['seeds']))} | {' / '.join(f'{100 * t:.2f}' for t in tests)} | {mean} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    write_summary(__doc__, os.path.join(os.path.dirname(os.path.abspath(__file__)), "teacher_effect.md"), rows, markdown,
                  "no finished distilled fit logs", argv)


if __name__ == "__main__":
    main()
