"""Keras Tuner search for the most accurate student whose int8 flatbuffer fits a flash budget.

Why it is built this way:
- The vocabulary cap is a hyperparameter and changes the token ids, so Keras
  Tuner's stock `Tuner` (one `x`/`y` for every trial) does not fit. A
  `BaseTuner` subclass runs each trial itself, on ids encoded once per cap.
- A trial trains with exactly `training.fit`'s recipe (seed, Distiller, batches,
  StepLR, best dev epoch), so `tfdistil fit --config best.json` gets the same
  dev accuracy again. It never reads the test split.
- The int8 size is estimated from the architecture (`estimate_int8_bytes`).
  The oracle throws away over-budget samples before they become trials, so
  they are never trained and do not use up `--max-trials`.
- Everything lives in TUNE_DIR and Keras Tuner saves its state after every
  trial: rerunning the same command continues the search (an interrupted
  trial is run again from its start).

TUNE_DIR layout: search.json (the settings a rerun must repeat), search/
(Keras Tuner's project; search/trial_N/run/ is a run folder of that trial's
best epoch), leaderboard.csv and .md, best.json, best_run/ (the winner
retrained by `training.fit`, with its int8 flatbuffer under best_run/tflite/).
"""
import contextlib
import json
import os
import sys
from tfdistil.config import STUDENTS, Config
from tfdistil.data.splits import load_split
from tfdistil.files import atomic_write_json
from tfdistil.errors import UserError
from tfdistil.runfolder import CONFIG, METRICS
from tfdistil.teacher.logits_cache import SHIPPED, read_logits
from tfdistil.search.leaderboard import _ranked, _write_leaderboard
from tfdistil.search.space import KB, SIZE_KEYS, TUNERS, _describe, config_from_values, estimate_int8_bytes, search_space, smallest_config
from tfdistil.search.tuner import Encodings, StudentHyperModel, StudentTuner, make_oracle


# --------------------------------------------------------------------------- the command
def tune(student, data, out, tuner="hyperband", max_trials=20, budget_kb=256.0, distill=False,
         teacher_logits=None, epochs_per_trial=5, limit=None, seed=0, batch_size=32, space=None, top_k=3,
         calibration_size=500, eval_limit=None, budget_includes_vocab=False, vocab_layout="strings", subwords="",
         log=print):
    """Search, then rank trials, measure the top ones' int8 size, retrain/convert/evaluate the winner.

    `budget_includes_vocab`: the budget is for the int8 model *and* the C vocabulary the firmware
    kit stores for the trial's vocabulary cap (`edge.c_vocab.c_vocabulary_layout`), i.e. the
    flash a microcontroller needs for the student, not only the flatbuffer; `vocab_layout` says
    which C table ("strings"; "fingerprints": 6 bytes a word; "fingerprint-ranks": 4).
    `subwords`: a WordPiece vocab.txt (or teacher folder); every trial's vocabulary is its pieces."""
    _check_args(student, tuner, max_trials, budget_kb, epochs_per_trial, top_k)
    budget_kb = float(budget_kb)
    space = search_space(student, distill, space)
    make_oracle(tuner, max_trials, epochs_per_trial, seed)  # fails fast if Bayesian lacks scipy
    budget = budget_kb * KB
    from tfdistil.data.vocab import read_wordpieces
    wordpieces = read_wordpieces(subwords) if subwords else None
    train = load_split(data, "train", limit)
    dev = load_split(data, "dev")
    base = Config(student=student, distill=distill, epochs=epochs_per_trial, batch_size=batch_size, seed=seed,
                  train_limit=limit or 0, teacher_logits=os.path.abspath(teacher_logits) if teacher_logits else "",
                  num_classes=len(train.label_names), subwords=os.path.abspath(subwords) if subwords else "")
    soft = _teacher_logits(base, train) if distill else None
    enc = Encodings(train, dev, base.min_freq, space["max_vocab"], max(space["max_len"]), wordpieces)
    vocab_flash = {}
    if budget_includes_vocab:
        from tfdistil.edge.mcu.c_vocab import c_vocabulary_layout
        vocab_flash = {cap: c_vocabulary_layout(v, vocab_layout)["flash_bytes"] for cap, v in enc.vocabs.items()}
    model_budget = lambda cfg: budget - vocab_flash.get(cfg.max_vocab, 0)  # noqa: E731
    _check_budget(base, space, enc.sizes, budget, budget_kb, vocab_flash)
    settings = {"student": student, "distill": distill, "teacher_logits": base.teacher_logits, "tuner": tuner,
                "budget_kb": budget_kb, "epochs_per_trial": epochs_per_trial, "train_limit": limit or 0,
                "seed": seed, "batch_size": batch_size, "space": space, "train_sha256": train.sha256,
                **({"subwords": base.subwords} if subwords else {}),
                **({"budget_includes_vocab": True, "vocab_layout": vocab_layout, "vocab_flash_bytes": {str(k): v for k, v in vocab_flash.items()}}
                   if budget_includes_vocab else {})}
    _claim(out, settings)

    hypermodel = StudentHyperModel(base, space, enc.sizes)
    with contextlib.redirect_stdout(sys.stderr):  # Keras Tuner prints progress on stdout; keep stdout for --json
        oracle = make_oracle(tuner, max_trials, epochs_per_trial, seed)
        def fits(values):
            cfg = config_from_values(base, values, enc.sizes)
            return estimate_int8_bytes(cfg) <= model_budget(cfg)
        oracle.fits = fits
        search = StudentTuner(oracle, hypermodel, enc, soft, model_budget, log, directory=out, project_name="search")
        log(f"searching {student} ({tuner}, {max_trials} trials, budget {budget_kb:g} KB); "
            f"{len(oracle.trials)} trial(s) recorded in {out} before this run")
        search.search()
    rows = _trial_rows(search)
    completed = [r for r in rows if r["status"] == "COMPLETED"]
    if not completed:
        raise UserError(f"no trial completed in {out}; see {out}/search/trial_*/trial.json for the errors")
    winner = _measure_top(completed, top_k, model_budget, data, calibration_size, log)
    best = _finish(winner, settings, max_trials, data, out, model_budget, calibration_size, eval_limit, log)
    _write_leaderboard(rows, space, out)
    return {"out": out, "student": student, "tuner": tuner, "trials": len(rows), "completed": len(completed),
            "over_budget_rejected": oracle.rejected, "best_trial": winner["trial"],
            "budget_includes_vocab": budget_includes_vocab,
            "dev_accuracy": winner["dev_accuracy"], "int8_kb_estimated": round(winner["int8_bytes_estimated"] / KB, 2),
            "int8_kb": best["tflite"]["kb"], "budget_kb": budget_kb, "fits_budget": best["tflite"]["fits_budget"],
            "retrained_dev_accuracy": best["best_run"]["dev_accuracy"], "reproduced": best["reproduced"],
            "tflm_dev_accuracy": best["tflite"]["tflm_dev_accuracy"],
            "leaderboard": os.path.join(out, "leaderboard.md"), "best_json": os.path.join(out, "best.json"),
            "config": best["config"]}


def _check_args(student, tuner, max_trials, budget_kb, epochs_per_trial, top_k):
    if student not in STUDENTS:
        raise UserError(f"unknown student {student!r}; choose one of {', '.join(STUDENTS)}")
    if tuner not in TUNERS:
        raise UserError(f"unknown tuner {tuner!r}; choose one of {', '.join(TUNERS)}")
    if max_trials < 1 or epochs_per_trial < 1 or top_k < 1:
        raise UserError("--max-trials, --epochs-per-trial and --top-k must be positive")
    if not budget_kb > 0:
        raise UserError(f"--budget-kb must be positive, got {budget_kb}")


def _teacher_logits(base, train):
    """Soft targets for the (possibly limited) train split, refused if made for other data (as `fit` does)."""
    path = base.teacher_logits or SHIPPED
    if not os.path.isfile(path):
        raise UserError(f"--distill needs teacher logits: {path} not found; make them with "
                        f"`tfdistil teacher logits --teacher DIR --out FILE` and pass --teacher-logits FILE")
    return read_logits(path, "train", train.sha256, len(train))[0]


def _check_budget(base, space, vocab_sizes, budget, budget_kb, vocab_flash=None):
    """Refuse before searching when not even the smallest configuration fits."""
    cfg, size = smallest_config(base, space, vocab_sizes, vocab_flash)
    if size > budget:
        keys = [k for k in SIZE_KEYS if k in space]
        raise UserError(f"--budget-kb {budget_kb:g} is smaller than any {base.student} configuration in the search "
                        f"space: the smallest ({_describe(cfg, keys)}) is an estimated {size / KB:.1f} KB int8"
                        f"{' + C vocabulary' if vocab_flash else ''}; "
                        f"raise --budget-kb or shrink the space with --space")


def _claim(out, settings):
    """Write TUNE_DIR/search.json, or check that a rerun repeats its settings (only --max-trials may grow)."""
    path = os.path.join(out, "search.json")
    os.makedirs(out, exist_ok=True)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
        if old != json.loads(json.dumps(settings)):
            diff = ", ".join(f"{k}: {old.get(k)!r} -> {settings.get(k)!r}"
                             for k in sorted(set(old) | set(settings)) if old.get(k) != settings.get(k))
            raise UserError(f"{out} holds a search with other settings ({diff[:300]}); rerun with the same options "
                            f"to continue it, or use another --out")
    elif os.path.isdir(os.path.join(out, "search")):
        raise UserError(f"{out}/search exists but {path} does not: not a tfdistil tune folder; use another --out")
    else:
        atomic_write_json(path, settings)


def _trial_rows(search):
    """One row per trial, in trial order: Keras Tuner's status/score plus what `run_trial` recorded."""
    rows = []
    for trial_id, trial in sorted(search.oracle.trials.items(), key=lambda kv: int(kv[0])):
        path = os.path.join(search.get_trial_dir(trial_id), "tfdistil.json")
        record = _load_json(path)
        if "config" not in record:  # never reached run_trial's first write (e.g. interrupted at once)
            record["config"] = search.hypermodel.config(trial.hyperparameters).to_dict()
        status = trial.status if not record.get("skipped") else "SKIPPED (over budget)"
        rows.append({"trial": trial_id, "status": status, "record_path": path, **record,
                     "dev_accuracy": record.get("dev_accuracy") if trial.status == "COMPLETED" else None})
    return rows



def _measure_top(completed, top_k, budget, data, calibration_size, log):
    """Convert the top trials to int8 to measure their real size; the winner is the best one that fits."""
    from tfdistil.edge.convert.export import convert
    winner = None
    for i, row in enumerate(_ranked(completed)):
        if i >= top_k and winner is not None:
            break
        if "int8_bytes" not in row:
            cfg = Config.from_dict(row["config"])
            log(f"converting trial {row['trial']} to int8 to measure its size")
            with contextlib.redirect_stdout(sys.stderr):
                row["int8_bytes"] = convert(row["run_dir"], "int8", cfg.max_len, None, data, calibration_size)["bytes"]
            record = {k: v for k, v in row.items() if k not in ("trial", "status", "record_path")}
            atomic_write_json(row["record_path"], record)
        if winner is None and row["int8_bytes"] <= budget(Config.from_dict(row["config"])):
            winner = row
        elif winner is None:
            log(f"trial {row['trial']}: int8 is {row['int8_bytes'] / KB:.1f} KB, over the budget; next one")
    if winner is None:
        raise UserError("no completed trial converts to an int8 model within the budget (the size estimate was "
                        "too low for them); search again in a new --out with a slightly smaller --budget-kb")
    return winner


def _finish(winner, settings, max_trials, data, out, budget, calibration_size, eval_limit, log):
    """Retrain the winner with `training.fit`, convert it to int8, run it in TFLM on dev; write best.json."""
    from tfdistil.edge.convert.export import convert
    from tfdistil.edge.host.evaluate import evaluate_tflite
    from tfdistil.training.fit import fit
    cfg = Config.from_dict(winner["config"])
    run_dir = os.path.join(out, "best_run")
    previous = _load_json(os.path.join(out, "best.json"))
    metrics = _load_json(os.path.join(run_dir, METRICS))
    if not (metrics and _same_run(_load_json(os.path.join(run_dir, CONFIG)), winner["config"])):
        log(f"retraining trial {winner['trial']} with `tfdistil fit` into {run_dir}")
        with contextlib.redirect_stdout(sys.stderr):
            metrics = fit(Config.from_dict(winner["config"]), data, run_dir, log=log)
    if previous.get("config") == winner["config"] and os.path.isfile(previous.get("tflite", {}).get("path", "")):
        tflite = previous["tflite"]
    else:
        with contextlib.redirect_stdout(sys.stderr):
            conv = convert(run_dir, "int8", cfg.max_len, None, data, calibration_size)
            log(f"evaluating {conv['path']} in TFLite Micro on dev")
            ev = evaluate_tflite(conv["path"], data, "dev", runtime="tflm", limit=eval_limit)
        tflite = {"path": conv["path"], "bytes": conv["bytes"], "kb": round(conv["bytes"] / KB, 2),
                  "fits_budget": conv["bytes"] <= budget(cfg), "ops": conv["ops"], "tflm_dev_accuracy": ev["accuracy"],
                  "tflm_dev_rows": ev["n"], "agreement_with_keras": ev.get("agreement_with_keras"),
                  "arena_bytes_min": ev.get("arena_bytes_min"), "latency_ms_p50": ev["latency_ms_p50"]}
    if not tflite["fits_budget"]:
        log(f"warning: the retrained winner is {tflite['kb']} KB int8, over the budget")
    reproduced = metrics["dev_accuracy"] == winner["dev_accuracy"]
    if not reproduced:
        log(f"warning: retrained dev accuracy {metrics['dev_accuracy']:.4f} differs from the trial's "
            f"{winner['dev_accuracy']:.4f}")
    best = {"config": winner["config"],
            "retrain": "tfdistil fit --config best.json --data DATA --out RUN_DIR",
            "search": {**settings, "max_trials": max_trials},
            "trial": {k: winner.get(k) for k in ("trial", "dev_accuracy", "best_epoch", "params",
                                                 "int8_bytes_estimated", "int8_bytes", "train_seconds", "run_dir")},
            "best_run": {"run_dir": run_dir, **{k: metrics.get(k) for k in (
                "dev_accuracy", "best_epoch", "params", "train_seconds", "test_accuracy")}},
            "reproduced": reproduced, "tflite": tflite}
    atomic_write_json(os.path.join(out, "best.json"), best)
    return best


def _same_run(a, b):
    """Whether two saved configs train the same model (`fit` writes the default cache path it used)."""
    def normal(d):
        return {**d, "teacher_logits": d.get("teacher_logits") or SHIPPED}
    return bool(a) and bool(b) and normal(a) == normal(b)


def _load_json(path):
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)
