#!/usr/bin/env python3
"""Accuracy on the negation / contrast / plain slices of SST-2 test for every committed model and the
shipped teachers -> experiments/slices/slices.md + slices.json beside it.

Each committed int8 flatbuffer (`results/models/*/*_int8_L*.tflite`) runs in LiteRT with TFLite's
builtin integer kernels (the kernels tflite-runtime on a Raspberry Pi shares bit for bit), through
`tfdistil.evaluate_tflite`, the function `tfdistil evaluate-tflite` runs; the slices are
`tfdistil.slices`' English defaults (or `--slices FILE`). Teachers are read from their logits
caches. The gap is teacher (MPNet) accuracy minus student accuracy on the slice, in points.

    .venv/bin/python experiments/slices/slice_table.py [--models DIR ...] [--slices FILE] [--data ../shared/data/sst2]
        [--out experiments/slices/slices]
"""
import argparse
import glob
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from tfdistil.data.splits import load_split  # noqa: E402
from tfdistil.files import atomic_write_json, atomic_write_text  # noqa: E402
from tfdistil.slices import ALL, PLAIN, load_slices, patterns, slice_report  # noqa: E402
from tfdistil.teacher.logits_cache import read_logits  # noqa: E402

TEACHERS = (("teacher MPNet-base", "tfdistil/assets/sst2_mpnet_logits.npz"),
            ("teacher MiniLM-L6", "tfdistil/assets/sst2_minilm_logits.npz"))


def model_rows(folders, data, slices, log=print):
    """One entry per committed int8 model: its slice rows beside the MPNet teacher's."""
    from tfdistil.edge.host.evaluate import evaluate_tflite
    out = []
    for folder in folders:
        found = sorted(glob.glob(os.path.join(folder, "*_int8_L*.tflite")))
        if not found:
            continue
        t0 = time.time()
        r = evaluate_tflite(found[0], data, "test", runtime="litert", kernels="builtin", slices=slices,
                            teacher_logits=os.path.join(ROOT, TEACHERS[0][1]))
        out.append({"name": os.path.basename(folder.rstrip("/")), "model": os.path.relpath(found[0], ROOT),
                    "bytes": r["model_bytes"], "runtime": "litert", "kernels": r["kernels"],
                    "accuracy": r["accuracy"], "rows": r["slices"]["rows"]})
        log(f"{out[-1]['name']}: {100 * r['accuracy']:.2f} ({time.time() - t0:.0f} s)", file=sys.stderr)
    return out


def teacher_rows(test, slices, reference_pred):
    out = []
    for name, rel in TEACHERS:
        logits, _ = read_logits(os.path.join(ROOT, rel), "test", test.sha256, len(test))
        pred = logits.argmax(-1)
        out.append({"name": name, "model": rel, "bytes": None, "runtime": "logits cache",
                    "accuracy": float((pred == test.labels).mean()),
                    "rows": slice_report(test.sentences, test.labels, pred, test.label_names, slices, reference_pred)})
    return out


def markdown(entries, names, command):
    """Accuracy per slice (n in the header), then the gap to the MPNet teacher and macro-F1."""
    def pct(x):
        return "–" if x is None else f"{100 * x:.2f}"
    ns = {r["slice"]: r["n"] for r in entries[0]["rows"]}
    head = " | ".join(f"{s} (n={ns[s]})" for s in names)
    lines = ["# Accuracy by slice, SST-2 test", "",
             f"Written by `{command}`. Students: the committed int8 flatbuffers in LiteRT, builtin integer "
             "kernels (bit-identical to tflite-runtime 2.14 on a Raspberry Pi). Teachers: their shipped logits "
             "caches. A sentence in several slices counts in each; plain = in no named slice. gap = MPNet "
             "teacher accuracy - model accuracy on the slice, in points.", "",
             "## Accuracy", "", f"| model | int8 bytes | {head} |", "|---|---|" + "---|" * len(names)]
    for e in entries:
        acc = {r["slice"]: r for r in e["rows"]}
        size = "–" if e["bytes"] is None else f"{e['bytes']:,}"
        lines.append(f"| {e['name']} | {size} | " + " | ".join(pct(acc[s]["accuracy"]) for s in names) + " |")
    lines += ["", "## Gap to the MPNet teacher (points)", "", f"| model | {' | '.join(names)} |",
              "|---|" + "---|" * len(names)]
    for e in entries:
        acc = {r["slice"]: r for r in e["rows"]}
        lines.append(f"| {e['name']} | " + " | ".join(pct(acc[s]["gap"]) for s in names) + " |")
    lines += ["", "## Macro-F1", "", f"| model | {' | '.join(names)} |", "|---|" + "---|" * len(names)]
    for e in entries:
        acc = {r["slice"]: r for r in e["rows"]}
        lines.append(f"| {e['name']} | " + " | ".join(pct(acc[s]["macro_f1"]) for s in names) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=sorted(glob.glob(os.path.join(ROOT, "results", "models", "*"))))
    p.add_argument("--slices", default=None, help="JSON/TOML {name: regex}; default: tfdistil.slices' English set")
    p.add_argument("--data", default=os.environ.get("TFDISTIL_DATA",
                                                    os.path.join(ROOT, "..", "shared", "data", "sst2")))
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "slices"), help="writes OUT.md and OUT.json")
    args = p.parse_args(argv)
    slices = load_slices(args.slices)
    test = load_split(args.data, "test")
    reference, _ = read_logits(os.path.join(ROOT, TEACHERS[0][1]), "test", test.sha256, len(test))
    reference_pred = reference.argmax(-1)
    command = "python experiments/slices/slice_table.py" + "".join(
        f" {flag} {v}" for flag, v in (("--slices", args.slices),) if v)
    entries = teacher_rows(test, slices, reference_pred) + model_rows(args.models, args.data, slices)
    names = [ALL, *slices, PLAIN]
    atomic_write_json(args.out + ".json", {"command": command, "split": "test", "data_sha256": test.sha256,
                                           "slices": patterns(slices), "reference_teacher": TEACHERS[0][1],
                                           "models": entries})
    text = markdown(entries, names, command)
    atomic_write_text(args.out + ".md", text)
    print(text)


if __name__ == "__main__":
    main()
