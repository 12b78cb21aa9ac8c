"""Read what the pipeline wrote: run folders, tuned runs, the teacher's provenance, the benchmark JSON.

Layout read, per run folder `RUNS_DIR/<student>-<baseline|distill|augment>-s<seed>/`:
  metrics.json, history.json, config.json, vocab.json,
  tflite/<student>_{int8,float32}_L<len>.{tflite,json},
  tflite/eval_int8_{litert,tflm}_test.json
A missing or malformed file becomes a note in the report, never a crash.
"""
import glob
import json
import os
import re
from tfdistil.errors import UserError
from tfdistil.runfolder import CONFIG, HISTORY, METRICS, TFLITE, eval_json, eval_name
from tfdistil.report.paper import DASH, RUN_NAME, STUDENT_ORDER
from tfdistil.report.stats import shown


# --------------------------------------------------------------------------- reading
def read_json(path, notes=None):
    """A JSON file's content, or None when it is absent or unreadable (noted, never fatal:
    reproduce.sh stores the last log line, which is an error message when a step failed)."""
    if not path or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        if notes is not None:
            notes.append(f"`{path}` is not valid JSON; treated as missing")
        return None


def _tflite_files(run_dir, student, quantization):
    """(flatbuffer, manifest) of one quantization; the L64 export first, any length otherwise."""
    folder = os.path.join(run_dir, TFLITE)
    preferred = os.path.join(folder, f"{student}_{quantization}_L64.tflite")
    candidates = [preferred] + sorted(glob.glob(os.path.join(folder, f"{student}_{quantization}_L*.tflite")))
    for path in candidates:
        manifest = path[: -len(".tflite")] + ".json"
        if os.path.isfile(path) and os.path.isfile(manifest):
            return path, manifest
    return None, None


def read_run(run_dir, notes):
    """Everything one run folder has to say, or None when it has no metrics.json (still training)."""
    name = os.path.basename(os.path.normpath(run_dir))
    metrics = read_json(os.path.join(run_dir, METRICS), notes)
    if not metrics:
        return None
    if not isinstance(metrics, dict):
        raise UserError(f"{os.path.join(run_dir, METRICS)}: expected a JSON object of run metrics, "
                        f"got a {type(metrics).__name__}")
    match = RUN_NAME.match(name)
    student = metrics.get("student") or (match and match["student"])
    distilled = bool(metrics.get("distilled", match and match["mode"] in ("distill", "augment")))
    augmented = bool(metrics.get("augmented", match and match["mode"] == "augment"))
    seed = metrics.get("seed", int(match["seed"]) if match else None)
    run = {"name": name, "dir": run_dir, "student": student, "distilled": distilled,
           "augmented": augmented, "mode": "augment" if augmented else "distill" if distilled else "baseline",
           "seed": seed, "metrics": metrics,
           "config": read_json(os.path.join(run_dir, CONFIG), notes) or {},
           "history": read_json(os.path.join(run_dir, HISTORY), notes) or []}
    for q in ("int8", "float32"):
        path, manifest = _tflite_files(run_dir, student, q)
        run[f"tflite_{q}"] = path
        run[f"manifest_{q}"] = read_json(manifest, notes) if manifest else None
    for rt in ("litert", "tflm"):
        ev = read_json(eval_json(run_dir, rt), notes)
        if isinstance(ev, dict) and ev.get("split", "test") != "test":
            notes.append(f"{name}: {eval_name(rt)} is on the {ev['split']} split; ignored")
            ev = None
        run[f"eval_{rt}"] = ev if isinstance(ev, dict) and "accuracy" in ev else None
    return run


def collect_runs(runs_dir, notes):
    """Finished runs (sorted by student, mode, seed) and the names of unfinished ones."""
    if not os.path.isdir(runs_dir):
        raise UserError(f"{runs_dir}: runs folder not found (make runs with experiments/paper_tables/reproduce.sh)")
    runs, unfinished = [], []
    for entry in sorted(os.listdir(runs_dir)):
        path = os.path.join(runs_dir, entry)
        if not os.path.isdir(path):
            continue
        run = None if entry.endswith(".partial") else read_run(path, notes)
        if run is None:
            if entry.endswith(".partial") or RUN_NAME.match(entry):
                unfinished.append(entry)
            continue
        runs.append(run)
    order = {s: i for i, s in enumerate(STUDENT_ORDER)}
    runs.sort(key=lambda r: (order.get(r["student"], 99), r["student"], r["mode"], r["seed"] or 0))
    return runs, unfinished


def bert_params(config):
    """Parameter count of a BertForSequenceClassification from its config.json: lets the
    report state the teacher's size without loading TensorFlow."""
    try:
        h, i, n = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
        v, p, t = config["vocab_size"], config["max_position_embeddings"], config.get("type_vocab_size", 2)
        labels = len(config.get("id2label") or {}) or 2
    except (KeyError, TypeError):
        return None
    embeddings = (v + p + t) * h + 2 * h
    layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h
    return embeddings + n * layer + (h * h + h) + (h * labels + labels)


def read_teacher(info_path, teacher_dir, bench, notes):
    """Teacher name, test accuracy and parameter count, each with where it came from."""
    teacher = {"name": None, "test_accuracy": None, "dev_accuracy": None, "params": None,
               "params_source": None, "source": shown(info_path), "commands": []}
    if info_path and info_path.endswith(".npz"):
        from tfdistil.teacher.logits_cache import read_header
        header = read_header(info_path)
        splits = header.get("splits", {})
        teacher.update(name=header.get("teacher"), test_accuracy=splits.get("test", {}).get("accuracy"),
                       dev_accuracy=splits.get("dev", {}).get("accuracy"))
    else:
        info = read_json(info_path, notes)
        if info is None:
            notes.append(f"teacher provenance `{info_path}` not found: teacher row left empty")
        else:
            acc = info.get("accuracy", {})
            teacher.update(name=info.get("teacher"), test_accuracy=acc.get("test"), dev_accuracy=acc.get("dev"),
                           commands=info.get("commands", []))
    teacher["short"] = (teacher["name"] or DASH).split(" (")[0]
    if bench and (bench.get("teacher") or {}).get("params"):
        teacher.update(params=bench["teacher"]["params"], params_source="counted by tfdistil benchmark")
    elif teacher_dir:
        params = bert_params(read_json(os.path.join(teacher_dir, "config.json")))
        if params:
            teacher.update(params=params, params_source=f"computed from `{teacher_dir}/config.json`")
    return teacher


def read_benchmark(path, notes):
    if not path:
        return None
    bench = read_json(path, notes)
    if bench is None:
        notes.append(f"benchmark `{path}` not found: latency columns left empty "
                     f"(make it with `tfdistil benchmark`)")
    return bench


# --------------------------------------------------------------------------- statistics
def group_runs(runs):
    """{(student, mode): [runs]} in the paper's row order."""
    groups = {}
    for r in runs:
        groups.setdefault((r["student"], r["mode"]), []).append(r)
    return groups


def students_of(runs):
    seen = []
    for r in runs:
        if r["student"] not in seen:
            seen.append(r["student"])
    return seen


def setting_of(run_name):
    """A run's name without its seed (`x-s2` -> `x`): seeds of one setting are grouped by it."""
    return re.sub(r"-s\d+$", "", run_name)


def by_setting(runs):
    groups = {}
    for r in runs:
        groups.setdefault(setting_of(r["name"]), []).append(r)
    return groups


def best_run(runs):
    """The seed with the best dev accuracy (lowest seed on ties): the one we ship."""
    return max(runs, key=lambda r: (r["metrics"].get("dev_accuracy") or -1, -(r["seed"] or 0)))


def read_tuned(dirs, notes):
    """Run folders given with --tuned (students from `tfdistil tune`), flagged as such."""
    tuned = []
    for d in dirs:
        run = read_run(d.rstrip("/"), notes) if os.path.isdir(d) else None
        if run is None:
            raise UserError(f"--tuned {d}: not a finished run folder (no metrics.json)")
        tuned.append({**run, "tuned": True})
    return tuned
