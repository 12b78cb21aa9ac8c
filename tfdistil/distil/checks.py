"""The chosen model in every runtime of its target, its single test read, and the bundle.

A check on the host is not a check on the target: for `pi` the Pi runner itself
(`tflite/classify.py`) runs in a venv holding only tflite-runtime 2.14 and numpy<2, the last
release a Pi's Python 3.11 gets; for a microcontroller the firmware runs on the emulated board
and its labels are compared with host TFLM's, sentence by sentence.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

from tfdistil.errors import UserError
from tfdistil.distil.options import choice_options
from tfdistil.files import atomic_write_json, atomic_write_text
from tfdistil.runfolder import VOCAB

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(REPO, "tflite", "classify.py")
PI_PINS = ("tflite-runtime==2.14.0", "numpy<2")


def pi_venv(venv=None):
    """python of a venv with only tflite-runtime 2.14.0 + numpy<2, made from PyPI once (default: under
    the cache). A lock beside it keeps two processes (pytest -n 2) from building it at once; `.ready`
    marks a finished install. The one place that makes it: scripts and tests call this too."""
    import fcntl
    root = os.environ.get("TFDISTIL_CACHE") or os.path.expanduser("~/.cache/tfdistil")
    venv = venv or os.path.join(root, "venv-tflite-runtime")
    python, ready = os.path.join(venv, "bin", "python"), os.path.join(venv, ".ready")
    os.makedirs(os.path.dirname(os.path.abspath(venv)), exist_ok=True)
    with open(venv + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.isfile(ready):
            subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
            proc = subprocess.run([python, "-m", "pip", "install", "-q", *PI_PINS], capture_output=True, text=True)
            if proc.returncode != 0:
                raise UserError(f"could not install {' '.join(PI_PINS)} into {venv}: "
                                f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}")
            open(ready, "w").close()
    return python


def runner_labels(python, model, vocab_path, texts, names, workdir):
    """Labels (class indices) that tflite/classify.py prints for `texts` in `python`'s runtime."""
    if not os.path.isfile(RUNNER):
        raise UserError(f"{RUNNER}: the Pi runner is missing from this checkout")
    tsv = os.path.join(workdir, "runner_input.tsv")
    atomic_write_text(tsv, "sentence\n" + "".join(" ".join(t.split()) + "\n" for t in texts))
    proc = subprocess.run([python, RUNNER, model, "--vocab", vocab_path, "--tsv", tsv], capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"tflite/classify.py failed in {python}: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    first = [line.split("\t")[0] for line in proc.stdout.splitlines()]
    return np.array([int(x) if names == ["0", "1"] else names.index(x) for x in first])


def _sha256(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _labels(model, data, runtime, **kw):
    from tfdistil.edge.host.evaluate import evaluate_tflite
    ev = evaluate_tflite(model, data, "test", runtime=runtime, keep_logits=True, **kw)
    return ev, ev.pop("logits").argmax(-1)


def runtime_checks(o, c, chosen, log):
    """Selection-split labels of the chosen int8 model in each runtime of the target, compared."""
    from tfdistil.data.splits import load_split
    shutil.rmtree(c.path("checks"), ignore_errors=True)  # inside --out: an earlier, killed try of this stage
    os.makedirs(c.path("checks"))
    model, vocab = chosen["model"], os.path.join(os.path.dirname(chosen["model"]), VOCAB)
    sel = load_split(c.selection, "test")
    litert, litert_labels = _labels(model, c.selection, "litert")
    tflm, tflm_labels = _labels(model, c.selection, "tflm")
    out = {"rows": len(sel), "litert": {"accuracy": litert["accuracy"], "macro_f1": litert["macro_f1"]},
           "tflm": {"accuracy": tflm["accuracy"], "macro_f1": tflm["macro_f1"],
                    "arena_bytes_min": tflm.get("arena_bytes_min")},
           "litert_vs_tflm_labels_identical": int((litert_labels == tflm_labels).sum())}
    if o.kind == "pi":
        log("tflite-runtime 2.14 (the Pi's Python runtime): tflite/classify.py on the selection split")
        python = pi_venv()
        labels = runner_labels(python, model, vocab, sel.sentences, c.splits["label_names"], c.path("checks"))
        out["tflite_runtime"] = {"version": "2.14.0", "accuracy": float(np.mean(labels == sel.labels)),
                                 "labels_identical_to_litert": int((labels == litert_labels).sum())}
    else:
        from tfdistil.edge.mcu.run import run_firmware
        from tfdistil.distil.steps import VOCAB_LAYOUT, quiet
        log(f"firmware on the emulated {o.board}: {min(o.board_limit, len(sel))} selection texts")
        with quiet():
            fw = run_firmware(model, c.selection, "test", limit=o.board_limit, board=o.board, log=log,
                              build_dir=c.path("checks", "firmware"), vocab_layout=VOCAB_LAYOUT)
        per = fw.pop("per_sentence")
        atomic_write_json(c.path("checks", "firmware.json"), {**fw, "per_sentence": per})
        out["board"] = {k: fw[k] for k in ("board", "cpu", "n", "accuracy", "host_tflm_accuracy", "labels_identical",
                                           "int8_outputs_identical", "flash_bytes", "ram_bytes", "arena_bytes",
                                           "invoke_instructions_p50", "invoke_ms_p50_estimate_64mhz")}
        out["board"]["instructions_per_sentence"] = fw["instructions"]["per_sentence_total"]
        out["board"]["kernels"] = fw.get("kernels", "reference")
        out["board"]["flash"], out["board"]["ram"] = fw["flash"], {k: v for k, v in fw["ram"].items()
                                                                     if not isinstance(v, dict)}
        if o.ram and fw["ram_bytes"] > o.ram:
            log(f"warning: the whole firmware needs {fw['ram_bytes']:,} B of RAM, over --ram {o.ram:,}")
        out["ram_fits"] = (not o.ram) or fw["ram_bytes"] <= o.ram
    return out


def test_read(o, c, guard, chosen, seeds, log):
    """The one read of test: every seed of the chosen recipe, int8, in the target's runtime.
    A kill after the read but before the stage was recorded finds the same models in the record
    and returns it: that is not a second read."""
    identity = [[r["seed"], _sha256(r["model"])] for r in seeds]
    if os.path.isfile(guard.record):
        with open(guard.record, encoding="utf-8") as f:
            before = json.load(f)
        if before.get("identity") == identity:
            return before
    from tfdistil.distil.records import earlier_test_read
    found = earlier_test_read(o, identity)
    if found:  # these very models were read in a folder --reuse reaches: that read stands, none here
        folder, before = found
        result = {**before, "reused_from": before.get("reused_from") or folder}
        log(f"test: these models were read in {result['reused_from']}; that read stands (not read again)")
        atomic_write_json(guard.record, result)
        return result
    opened = guard.read("the chosen recipe's seeds")
    if opened is None:
        return {"read": False, "why": "no test split given"}
    data, info = opened
    runtime = "tflm" if o.kind == "mcu" else "litert"
    rows, preds = [], []
    for r in seeds:
        ev, pred = _labels(r["model"], data, runtime)
        rows.append({"seed": r["seed"], "model": r["model"], "accuracy": ev["accuracy"], "macro_f1": ev["macro_f1"],
                     "chosen": r["seed"] == chosen["seed"]})
        preds.append(pred)
    from tfdistil.distil.steps import mean_std, quiet
    from tfdistil.data.splits import load_split
    from tfdistil.metrics import classification_report
    from tfdistil.teacher.model import load_teacher, predict_logits
    test = load_split(data, "test")
    with quiet():
        model, tokenizer = load_teacher(c.result("teacher")["dir"])
        teacher_pred = predict_logits(model, tokenizer, test.sentences, max_len=o.teacher_max_len).argmax(-1)
    rep = classification_report(test.labels, teacher_pred, c.splits["label_names"])
    from tfdistil.distil.steps import metric_name
    from tfdistil.metrics import gap_interval
    gap = gap_interval(test.labels, teacher_pred, preds, len(c.splits["label_names"]), metric_name(o, c))
    result = {"read": True, **info, "runtime": runtime, "seeds": rows, "identity": identity, "choice": choice_options(o),
              "teacher": {"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"]}, "gap": gap,
              "accuracy": mean_std([r["accuracy"] for r in rows]), "macro_f1": mean_std([r["macro_f1"] for r in rows]),
              "chosen": next(r for r in rows if r["chosen"]),
              "slices": test_slices(o, test, preds, rows, teacher_pred, c.splits["label_names"])}
    result.update(_seen_before(o, c, test, preds, teacher_pred))
    if result["seen_before"]["any"]:
        log(f"test: {result['seen_before']['any']} of {len(test.labels)} test texts occur word for word in train, dev or "
            "--unlabelled; the report scores the rest beside")
    if o.kind == "pi":
        vocab = os.path.join(os.path.dirname(chosen["model"]), VOCAB)
        labels = runner_labels(pi_venv(), chosen["model"], vocab, test.sentences, c.splits["label_names"], c.path("checks"))
        result["tflite_runtime_chosen_accuracy"] = float(np.mean(labels == test.labels))
    atomic_write_json(guard.record, result)
    return result


def _seen_before(o, c, test, preds, teacher_pred):
    """How many test texts the run's train, dev or --unlabelled files hold word for word, and the
    recipe and teacher on the others (`unseen`), from this same read."""
    from tfdistil.distil.steps import mean_std
    from tfdistil.distil.workdata import seen_before
    from tfdistil.metrics import classification_report
    masks = seen_before(o, c.path("data"), test.sentences)
    seen = np.logical_or.reduce(list(masks.values()))
    out = {"seen_before": {**{k: int(m.sum()) for k, m in masks.items()}, "any": int(seen.sum())}}
    keep = ~seen
    if seen.any() and keep.any():
        names, gold = c.splits["label_names"], np.asarray(test.labels)[keep]
        reps = [classification_report(gold, np.asarray(p)[keep], names) for p in preds]
        teacher = classification_report(gold, np.asarray(teacher_pred)[keep], names)
        out["unseen"] = {"rows": int(keep.sum()), "accuracy": mean_std([r["accuracy"] for r in reps]),
                         "macro_f1": mean_std([r["macro_f1"] for r in reps]),
                         "teacher": {"accuracy": teacher["accuracy"], "macro_f1": teacher["macro_f1"]}}
    return out


def test_slices(o, test, preds, rows, teacher_pred, names):
    """Per slice (negation, contrast, ... and plain): the teacher, the recipe's mean +- std over its
    seeds, the mean gap to the teacher and the chosen seed, all from this one read. Where meaning
    composes ("not", "but") a student can trail its teacher far more than the overall figure says."""
    from tfdistil.distil.steps import mean_std
    from tfdistil.slices import load_slices, patterns, slice_report
    slices = load_slices(o.slices or None)
    per_seed = [slice_report(test.sentences, test.labels, p, names, slices, teacher_pred) for p in preds]
    table = []
    for i, first in enumerate(per_seed[0]):
        acc = [s[i]["accuracy"] for s in per_seed]
        known = first["n"] > 0
        table.append({"slice": first["slice"], "n": first["n"], "teacher_accuracy": first["teacher_accuracy"],
                      "accuracy": mean_std(acc) if known else None,
                      "gap": mean_std([s[i]["gap"] for s in per_seed]) if known else None,
                      "chosen_accuracy": next(s[i]["accuracy"] for s, r in zip(per_seed, rows) if r["chosen"])})
    return {"patterns": patterns(slices), "rows": table}


def write_bundle(o, c, chosen, checks, log):
    """What the user copies to the target: for a Pi the model, vocabulary and runner; for a
    microcontroller the firmware kit (model as a C array, op resolver, C tokenizer) with the
    flash, RAM and instructions the board measured."""
    from tfdistil.files import mark
    out = c.path("bundle")
    if os.path.isdir(out):
        shutil.rmtree(out)  # inside --out, made by an earlier try of this stage
    tmp = out + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    model_dir = os.path.dirname(chosen["model"])
    if o.kind == "pi":
        shutil.copy(chosen["model"], os.path.join(tmp, "model.tflite"))
        shutil.copy(os.path.join(model_dir, VOCAB), os.path.join(tmp, VOCAB))
        shutil.copy(RUNNER, os.path.join(tmp, "classify.py"))
        howto = ("# On the Raspberry Pi (64-bit OS, Python 3.11)\n\n"
                 "    python3 -m venv venv && venv/bin/pip install ai-edge-litert   # or: tflite-runtime==2.14.0 'numpy<2'\n"
                 "    venv/bin/python classify.py model.tflite --vocab vocab.json \"your text here\"\n\n"
                 f"Classes: {', '.join(c.splits['label_names'])}. Checked here under tflite-runtime 2.14 on x86 "
                 "(see ../report.md), not on Pi hardware.\n")
    else:
        from tfdistil.edge.mcu.firmware import write_firmware_kit
        from tfdistil.distil.steps import VOCAB_LAYOUT
        kit = write_firmware_kit(chosen["model"], os.path.join(tmp, "kit"), vocab_layout=VOCAB_LAYOUT)
        atomic_write_json(os.path.join(tmp, "measured.json"), {"board": checks.get("board"), "kit": {
            k: kit[k] for k in kit if isinstance(kit[k], (int, float, str))}})
        b = checks["board"]
        howto = (f"# Firmware kit for {o.target}\n\n`kit/` holds the model as a C array, the op resolver with exactly "
                 "its ops, the measured arena and the C tokenizer; build it with TFLite Micro as in "
                 "firmware_notes/ of tfdistil.\n\nMeasured on the emulated {board}: whole image {flash:,} B flash, "
                 "{ram:,} B RAM; {ins:,.0f} instructions per sentence (mean); labels identical to host TFLM on "
                 "{same}/{n} selection texts.\n").format(board=b["board"], flash=b["flash_bytes"], ram=b["ram_bytes"],
                                                        ins=b["instructions_per_sentence"]["mean"],
                                                        same=b["labels_identical"], n=b["n"])
    atomic_write_text(os.path.join(tmp, "README.md"), howto)
    mark(tmp, "bundle")
    os.replace(tmp, out)
    return {"dir": out, "files": sorted(f for f in os.listdir(out) if not f.startswith("."))}
