"""tflite/classify.py on a 64-bit Raspberry Pi's runtimes (aarch64 wheels under qemu) vs on x86.

Why labels and not digits: the aarch64 int8 kernels (NEON paths) are not the x86 ones, so a
printed probability may differ in its last digits while the decision does not; a sentence whose
decision differs is named with both probabilities and its margin, so a flip is explained, not
averaged away. The x86 side is the same classify.py in this Python (ai-edge-litert, builtin
kernels: the runtime tfdistil records accuracies with); the aarch64 side runs in the cached root
of `tfdistil.edge.host.pi_root` under `QEMU_CPU` = the Pi's CPU.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

from tfdistil.errors import UserError
from tfdistil.files import REPO
from tfdistil.runfolder import VOCAB, vocab_beside
from tfdistil.edge.host.pi_root import PI_CPUS, VENVS, run_in_root

TFLITE_DIR = os.path.join(REPO, "tflite")
CLASSIFY = os.path.join(TFLITE_DIR, "classify.py")
CLASSIFY_MANY = os.path.join(TFLITE_DIR, "classify_many.py")


def parse(stdout, stderr, what):
    """(labels, P(class 1) as printed, runtime line) of a classify.py run on a binary model."""
    lines = stdout.splitlines()
    labels = np.array([int(l.split("\t")[0]) for l in lines])
    runtime = next((l.split(":", 1)[1].strip() for l in stderr.splitlines() if l.startswith("runtime:")), None)
    if runtime is None:
        raise UserError(f"{what}: classify.py did not say which runtime it used: {stderr.strip()[-300:]}")
    return labels, [l.split("\t")[1] for l in lines], runtime


def classify_x86(model, tsv):
    vocab = vocab_beside(model)
    proc = subprocess.run([sys.executable, CLASSIFY, model, "--vocab", vocab, "--tsv", tsv],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"x86 classify.py failed: {proc.stderr.strip()[-300:]}")
    return parse(proc.stdout, proc.stderr, "x86")


def classify_aarch64(root, runtime, pi, model, tsv):
    """classify.py inside the root with `runtime` (a key of pi_root.VENVS) on `pi` (a key of PI_CPUS)."""
    venv = VENVS[runtime][0]
    vocab = vocab_beside(model)
    files = {"classify.py": CLASSIFY, "model.tflite": model, VOCAB: vocab, "test.tsv": tsv}
    proc = run_in_root(root, [f"{venv}/bin/python", "{work}/classify.py", "{work}/model.tflite", "--vocab",
                              "{work}/vocab.json", "--tsv", "{work}/test.tsv"], PI_CPUS[pi], files)
    if proc.returncode != 0:
        raise UserError(f"aarch64 {runtime} on {pi}: classify.py failed: {proc.stderr.strip()[-300:]}")
    return parse(proc.stdout, proc.stderr, f"aarch64 {runtime}")


def compare(x86, arm, sentences, gold):
    """Label agreement, accuracies and every sentence whose label differs, with both probabilities."""
    (xl, xp, _), (al, ap, aruntime) = x86, arm
    if len(xl) != len(al) or len(xl) != len(sentences):
        raise UserError(f"x86 gave {len(xl)} answers, aarch64 {len(al)}, for {len(sentences)} sentences")
    differ = np.flatnonzero(xl != al)
    return {"runtime": aruntime, "labels_identical": int((xl == al).sum()), "n": len(xl),
            "accuracy_x86": round(float(np.mean(xl == gold)), 6), "accuracy": round(float(np.mean(al == gold)), 6),
            "printed_p_identical": int(sum(a == b for a, b in zip(xp, ap))),
            "differing": [{"index": int(i), "sentence": sentences[i], "p_x86": xp[i], "p_aarch64": ap[i],
                           "margin_x86": round(abs(float(xp[i]) - 0.5), 6)} for i in differ]}


def _parse_many(stdout, folders, what):
    """{folder: (labels, printed P(class 1), runtime)} of a classify_many.py run, in `folders` order, and
    {folder: seconds spent on it inside the process}."""
    runs = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    if len(runs) != len(folders):
        raise UserError(f"{what}: classify_many.py answered for {len(runs)} of {len(folders)} models")
    return ({f: (np.array([int(l.split("\t")[0]) for l in r["lines"]]), [l.split("\t")[1] for l in r["lines"]],
                 r["runtime"]) for f, r in zip(folders, runs)}, {f: r["seconds"] for f, r in zip(folders, runs)})


def classify_many_x86(folders, tsv, python=None):
    """classify_many.py (classify.py's functions, one process) over model folders, in this Python
    (LiteRT) or in `python` (e.g. a venv with the Pi's tflite-runtime); `tsv` is one file for all,
    or {folder: its own file}."""
    args = [f"{f}={tsv[f]}" for f in folders] if isinstance(tsv, dict) else ["--tsv", tsv, *folders]
    proc = subprocess.run([python or sys.executable, CLASSIFY_MANY, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"x86 classify_many.py failed: {proc.stderr.strip()[-300:]}")
    return _parse_many(proc.stdout, folders, "x86")[0]


def classify_many_aarch64(root, runtime, pi, folders, tsv, on_model=None):
    """classify_many.py inside the root, one emulated process for all `folders`, with `runtime` on `pi`;
    `tsv` as for classify_many_x86. Returns (results as classify_many_x86, {folder: seconds}, wall seconds).
    `on_model(folder, result, seconds)` is called as each model's answers arrive."""
    venv = VENVS[runtime][0]
    files = {"classify.py": CLASSIFY, "classify_many.py": CLASSIFY_MANY}
    names = [f"m{i}" for i in range(len(folders))]
    files.update(zip(names, folders))
    if isinstance(tsv, dict):
        files.update({f"{n}.tsv": tsv[f] for n, f in zip(names, folders)})
        args = [f"{{work}}/{n}={{work}}/{n}.tsv" for n in names]
    else:
        files["test.tsv"] = tsv
        args = ["--tsv", "{work}/test.tsv", *(f"{{work}}/{n}" for n in names)]
    t0 = time.time()
    done = []

    def line(text):
        if on_model and text.startswith("{"):
            f = folders[len(done)]
            done.append(f)
            res, secs = _parse_many(text, [f], f"aarch64 {runtime} on {pi}")
            on_model(f, res[f], secs[f])
    proc = run_in_root(root, [f"{venv}/bin/python", "{work}/classify_many.py", *args], PI_CPUS[pi], files,
                       timeout=4 * 3600, on_line=line if on_model else None)
    if proc.returncode != 0:
        raise UserError(f"aarch64 {runtime} on {pi}: classify_many.py failed: {proc.stderr.strip()[-300:]}")
    return (*_parse_many(proc.stdout, folders, f"aarch64 {runtime} on {pi}"), time.time() - t0)


def near_boundary(printed_p, margin, at_least):
    """Indices of the sentences whose printed P(class 1) lies within `margin` of 0.5 (the ones kernel
    rounding could flip), and at least the `at_least` nearest, in input order."""
    dist = np.abs(np.array([float(p) for p in printed_p]) - 0.5)
    chosen = set(np.flatnonzero(dist <= margin)) | set(np.argsort(dist, kind="stable")[:at_least])
    return sorted(int(i) for i in chosen)
