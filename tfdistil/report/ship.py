"""Ship results: copy a run's int8 flatbuffer + vocabulary into results/models/NAME/ (the best-dev
seed of each setting for `report --commit-models`, or one chosen run for `tfdistil ship`), build
results.json. One shipping path: both replace only a folder tfdistil made (its source.json)."""
import glob
import json
import os
import shutil
from tfdistil.errors import UserError
from tfdistil.files import atomic_write_json
from tfdistil.runfolder import CONFIG, METRICS, TFLITE, VOCAB, eval_name
from tfdistil.report.collect import best_run, by_setting, read_json, setting_of
from tfdistil.report.logsummary import last_json
from tfdistil.report.stats import _rel, int8_accuracy


# --------------------------------------------------------------------------- models + results.json
def repo_root(out):
    """The folder paths in results.json are relative to: the git checkout holding `out`,
    else out's parent (so `results/models/...` reads the same everywhere)."""
    d = os.path.abspath(out)
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return os.path.dirname(os.path.abspath(out))
        d = parent


def model_folder(out, run):
    """Where a run's int8 model is committed: one folder per (student, mode), or per tuned setting."""
    name = f"tuned-{setting_of(run['name'])}" if run.get("tuned") else f"{run['student']}-{run['mode']}"
    return os.path.join(out, "models", name)


def made_by_tfdistil(dest):
    """True if `dest` is free, or a model folder tfdistil wrote: its source.json names the run and
    how it was chosen. Anything else is someone's own folder and is never replaced."""
    if not os.path.lexists(dest):
        return True
    src = read_json(os.path.join(dest, "source.json")) if os.path.isdir(dest) and not os.path.islink(dest) else None
    return isinstance(src, dict) and {"run", "chosen_by"} <= set(src)


def check_model_folders(dests):
    """Before anything is copied: refuse (one line, exit 2) if any destination is not tfdistil's."""
    for dest in dests:
        if not made_by_tfdistil(dest):
            raise UserError(f"{dest} exists and tfdistil did not make it (no source.json of a shipped model): "
                            "not replacing it; move it away or choose another --out")


def _replace(tmp, dest):
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    os.replace(tmp, dest)


def _ship(r, dest, root, notes, chosen_by):
    """Copy one run's int8 flatbuffer + manifest + vocab (+ source.json) into dest, atomically."""
    tmp = f"{dest}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    model = os.path.join(tmp, os.path.basename(r["tflite_int8"]))
    shutil.copyfile(r["tflite_int8"], model)
    beside = os.path.join(os.path.dirname(r["tflite_int8"]), VOCAB)
    shutil.copyfile(beside if os.path.isfile(beside) else os.path.join(r["dir"], VOCAB),
                    os.path.join(tmp, VOCAB))
    manifest = dict(r["manifest_int8"], run_dir=r["name"])  # no absolute paths of this machine
    atomic_write_json(model[: -len(".tflite")] + ".json", manifest)
    acc, rt = int8_accuracy(r)
    atomic_write_json(os.path.join(tmp, "source.json"), {
        "run": r["name"], "seed": r["seed"], "chosen_by": chosen_by,
        "dev_accuracy": r["metrics"].get("dev_accuracy"), "test_accuracy": r["metrics"].get("test_accuracy"),
        "tflite_int8_test_accuracy": acc, "tflite_int8_test_runtime": rt,
        "tflite_int8_tflm_test_accuracy": (r["eval_tflm"] or {}).get("accuracy")})
    if os.path.getsize(model) > 2 * 1024 * 1024:
        notes.append(f"`{_rel(dest, root)}`: flatbuffer is over 2 MB")
    _replace(tmp, dest)
    return {"tflite_int8": _rel(os.path.join(dest, os.path.basename(model)), root),
            "vocab": _rel(os.path.join(dest, VOCAB), root)}


def commit_models(groups, out, root, notes, tuned=()):
    """Copy the best seed's int8 flatbuffer + manifest + vocab of each (student, mode), and of each
    tuned setting, into out/models/<folder>/, small enough (< 2 MB) to live in git."""
    shipped = {}
    chosen = [(best_run(rs), "best dev accuracy over seeds") for rs in groups.values()]
    chosen += [(best_run(rs), "best dev accuracy over the seeds of a tuned setting (--tuned)")
               for rs in by_setting(tuned).values()]
    check_model_folders(model_folder(out, r) for r, _ in chosen if r["tflite_int8"])
    for r, why in chosen:
        if not r["tflite_int8"]:
            notes.append(f"{model_folder(out, r)}: `{r['name']}` has no int8 flatbuffer; nothing committed")
            continue
        shipped[r["name"]] = _ship(r, model_folder(out, r), root, notes, why)
    return shipped


def ship_run(run, name, tflm_log, litert_log, chosen_by, commands=(), logs=(), teacher=None, out="results"):
    """Commit one run's int8 student as OUT/models/NAME/ with where it came from: the flatbuffer, its
    manifest and vocab.json (RUN/tflite/), metrics.json, the last JSON line of the two `evaluate-tflite
    --json` logs as eval_int8_{tflm,litert}_test.json, and source.json (run, seed, config, commands,
    logs, how it was chosen, the accuracies read from those files). Paths are kept relative to the
    checkout. Written beside NAME and renamed into place."""
    root = repo_root(out)
    models = glob.glob(os.path.join(run, TFLITE, "*_int8_L64.tflite"))
    if len(models) != 1:
        raise UserError(f"{run}/tflite: expected one *_int8_L64.tflite, found {len(models)}")
    model = os.path.realpath(models[0])
    tflm, litert = last_json(tflm_log), last_json(litert_log)
    for rec, log in ((tflm, tflm_log), (litert, litert_log)):
        if not rec or rec.get("split") != "test" or model not in {
                os.path.realpath(os.path.join(root, rec.get("model", ""))), os.path.realpath(rec.get("model", ""))}:
            raise UserError(f"{log} is not a test-split evaluation of {models[0]}")
    metrics, config = (read_json(os.path.join(run, f)) for f in (METRICS, CONFIG))
    if not metrics or not config:
        raise UserError(f"{run}: no metrics.json/config.json (not a finished run)")
    dest = os.path.join(out, "models", name)
    check_model_folders([dest])
    tmp = f"{dest}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    stem = os.path.basename(model)[:-len(".tflite")]
    for src in (model, os.path.join(run, TFLITE, stem + ".json"), os.path.join(run, TFLITE, VOCAB),
                os.path.join(run, METRICS)):
        shutil.copy(src, tmp)
    manifest = read_json(os.path.join(tmp, stem + ".json"))
    # the name of the run; its "../" would point into results/models
    atomic_write_json(os.path.join(tmp, stem + ".json"), dict(manifest, run_dir=os.path.basename(os.path.normpath(run))))
    for kind, rec in (("tflm", tflm), ("litert", litert)):
        with open(os.path.join(tmp, eval_name(kind)), "w") as f:
            f.write(json.dumps(rec) + "\n")
    source = {"run": _rel(run, root), "seed": config["seed"], "config": config,
              "commands": list(commands), "logs": [_rel(p, root) for p in (*logs, tflm_log, litert_log)],
              "chosen_by": chosen_by, "dev_accuracy": metrics["dev_accuracy"],
              "test_accuracy": metrics["test_accuracy"], "tflite_int8_test_accuracy": litert["accuracy"],
              "tflite_int8_test_runtime": "litert", "tflite_int8_tflm_test_accuracy": tflm["accuracy"],
              "model_bytes": os.path.getsize(model), "teacher": teacher}
    atomic_write_json(os.path.join(tmp, "source.json"), source)
    _replace(tmp, dest)
    return source


def committed_models(runs, out, root):
    """Models committed by an earlier `--commit-models`, still matching their run: keeps
    results.json pointing at them when the report is re-rendered without the flag."""
    shipped = {}
    for r in runs:
        dest = model_folder(out, r)
        src = read_json(os.path.join(dest, "source.json"))
        model = os.path.join(dest, os.path.basename(r["tflite_int8"] or ""))
        if src and src.get("run") == r["name"] and r["tflite_int8"] and os.path.isfile(model):
            shipped[r["name"]] = {"tflite_int8": _rel(model, root),
                                  "vocab": _rel(os.path.join(dest, VOCAB), root)}
    return shipped


def results_entries(runs, shipped, root):
    """One JSON object per trained run: what a demo or a later analysis needs, no more."""
    entries = []
    for r in runs:
        m, man = r["metrics"], r["manifest_int8"] or {}
        acc, rt = int8_accuracy(r)
        ship = shipped.get(r["name"], {})
        entries.append({
            "name": r["name"], "student": r["student"], "distilled": r["distilled"],
            "augmented": r["augmented"], "tuned": bool(r.get("tuned")), "seed": r["seed"],
            "params": m.get("params"), "vocab_size": m.get("vocab_size"), "best_epoch": m.get("best_epoch"),
            "epochs": len(r["history"]) or r["config"].get("epochs"),
            "dev_accuracy": m.get("dev_accuracy"), "test_accuracy": m.get("test_accuracy"),
            "tflite_int8": ship.get("tflite_int8"), "vocab": ship.get("vocab"),
            "tflite_int8_bytes": man.get("bytes"),
            "tflite_float32_bytes": (r["manifest_float32"] or {}).get("bytes"),
            "tflite_int8_test_accuracy": acc, "tflite_int8_test_runtime": rt,
            "tflite_int8_litert_test_accuracy": (r["eval_litert"] or {}).get("accuracy"),
            "tflite_int8_tflm_test_accuracy": (r["eval_tflm"] or {}).get("accuracy"),
            "agreement_with_keras": (r["eval_tflm"] or r["eval_litert"] or {}).get("agreement_with_keras"),
            "tflm_arena_bytes_min": (r["eval_tflm"] or {}).get("arena_bytes_min"),
            # Input length of the int8 flatbuffer; the training max_len when there is no flatbuffer.
            "max_len": man.get("max_len") or r["config"].get("max_len"),
            "train_seconds": m.get("train_seconds"), "teacher_logits": m.get("teacher_logits"),
            **({"transfer_set_rows": m.get("train_rows"), "transfer_set_labelled_rows": m.get("labelled_rows")}
               if r["augmented"] else {}),
            "run_dir": _rel(r["dir"], root),
        })
    return entries


# --------------------------------------------------------------------------- REPORT.md
def fit_command(r, out, from_config=False):
    """The `tfdistil fit` / `fit-stream` line that trained run r (settings from its config.json)."""
    m, c = r["metrics"], r["config"]
    where = "--config CONFIG" if from_config else f"--student {r['student']}"
    if r["augmented"]:
        return (f"tfdistil fit-stream {where} --shards {(m.get('transfer_set') or {}).get('dir', m.get('teacher_logits'))} "
                f"--epochs {c.get('epochs')} --seed {r['seed']} --data $DATA --out {out} --json")
    flags = f" --distill --teacher-logits {m['teacher_logits']}" if r["distilled"] and not from_config else ""
    return f"tfdistil fit {where}{flags} --seed {r['seed']} --data $DATA --out {out} --json"
