"""Keras Tuner search for the most accurate student whose int8 flatbuffer fits a flash budget.

Why it is built this way:
- The vocabulary cap is a hyperparameter and changes the token ids, so Keras
  Tuner's stock `Tuner` (one `x`/`y` for every trial) does not fit. A
  `BaseTuner` subclass runs each trial itself, on ids encoded once per cap.
- A trial trains with exactly `train.fit`'s recipe (seed, Distiller, batches,
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
retrained by `train.fit`, with its int8 flatbuffer under best_run/tflite/).
"""
import contextlib
import csv
import io
import itertools
import json
import os
import sys
import time

import keras_tuner as kt
import numpy as np

from .config import STUDENTS, Config
from .data import Vocab, atomic_write_json, atomic_write_text, load_split
from .errors import UserError
from .logits_cache import SHIPPED, read_logits

KB = 1024  # --budget-kb counts KiB: MCU flash sizes are powers of two
OBJECTIVE = "dev_accuracy"
TUNERS = ("hyperband", "bayesian", "random")

# Lists are choices; dicts are float ranges. Sizes suit MCU flash (tens to hundreds of KB).
COMMON_SPACE = {
    "max_vocab": [1000, 2000, 4000, 8000, 16000],
    "embed_dim": [8, 16, 32, 64],
    "max_len": [32, 48, 64],
    "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    "lr": {"min": 3e-4, "max": 1e-2, "sampling": "log"},
}
FAMILY_SPACE = {
    "cnn": {"filters": [8, 16, 32, 64], "kernel_sizes": ["3", "3,5", "3,4,5"], "hidden": [16, 32, 64]},
    "bilstm": {"hidden": [8, 16, 32, 64]},
    "bilstm_attn": {"hidden": [8, 16, 32, 64]},
}
ALPHA_SPACE = {"alpha": {"min": 0.1, "max": 0.9, "step": 0.1}}
VALUE_BOUNDS = {"dropout": (0.0, 0.95), "alpha": (0.0, 1.0), "lr": (1e-6, 1.0)}  # what Config/Keras accept
SIZE_KEYS = ("max_vocab", "embed_dim", "hidden", "filters", "kernel_sizes")  # must be choices (enumerable)
INT_KEYS = ("max_vocab", "embed_dim", "hidden", "filters", "max_len")

# int8 flatbuffer bytes = params (1 byte each) + what the converter adds: int32
# biases, per-channel scales/zero points, op and tensor tables. Fitted on 32
# random configurations with random non-zero weights, converted by
# `export.to_tflite` (TF 2.21, int8, L 32/48/64; L does not matter): largest
# error 59 bytes (CNN), 99 (BiLSTM), 18 (attention). Untrained models are not a
# fair sample: the converter shares identical (all-zero) bias buffers, which
# makes them up to 5 KB smaller than the same model after training.
INT8_OVERHEAD = {
    "cnn": lambda c: 3630 + 1185 * len(c.kernel_sizes) + 27 * c.filters * len(c.kernel_sizes) + 27 * c.hidden,
    "bilstm": lambda c: 10560 + 55 * c.hidden,
    "bilstm_attn": lambda c: 13500 + 108 * c.hidden,
}
ESTIMATE_TOLERANCE = (512, 0.02)  # bytes, fraction: what the tests hold the estimate to


# --------------------------------------------------------------------------- size
def count_params(cfg):
    """Parameters of `build_student(cfg)` in closed form, so the budget check never builds a model."""
    v, e, h = cfg.vocab_size, cfg.embed_dim, cfg.hidden
    head = h + h * 2 + 2  # dense bias, logits kernel + bias
    if cfg.student == "cnn":
        f, ks = cfg.filters, cfg.kernel_sizes
        return v * e + sum(k * e * f + f for k in ks) + f * len(ks) * h + head
    lstm = 2 * 4 * (e * h + h * h + h)
    attention = (2 * h) ** 2 + 2 * (2 * h) if cfg.student == "bilstm_attn" else 0
    return v * e + lstm + attention + 2 * h * h + head


def estimate_int8_bytes(cfg):
    """Estimated size of the int8 flatbuffer `tfdistil convert --quantize int8` writes for `cfg`."""
    return count_params(cfg) + INT8_OVERHEAD[cfg.student](cfg)


# --------------------------------------------------------------------------- space
def search_space(student, distill, overrides=None):
    """The family's space, with `overrides` ({name: [choices]} or {name: {min, max, ...}}) applied."""
    space = {**COMMON_SPACE, **FAMILY_SPACE[student], **(ALPHA_SPACE if distill else {})}
    for name, spec in (overrides or {}).items():
        if name not in space:
            raise UserError(f"--space: {name!r} is not searched for {student}"
                            f"{' with --distill' if distill else ''}; known: {', '.join(space)}")
        space[name] = _checked_spec(name, spec)
    return space


def _checked_spec(name, spec):
    """A valid override, checked here: an error inside a trial would only mark that trial failed."""
    if isinstance(spec, dict):
        if name in SIZE_KEYS or name == "max_len":
            raise UserError(f"--space: {name} must be a list of choices")
        if not {"min", "max"} <= set(spec) <= {"min", "max", "step", "sampling"}:
            raise UserError(f"--space: {name} range needs min and max (and optionally step, sampling)")
        if not _numbers_within(name, [spec["min"], spec["max"]]) or not spec["min"] < spec["max"]:
            raise UserError(f"--space: {name} range must have min < max within {VALUE_BOUNDS[name]}")
        if spec.get("sampling", "linear") not in ("linear", "log") or (spec.get("sampling") == "log"
                                                                       and spec["min"] <= 0):
            raise UserError(f"--space: {name} sampling must be linear or log (log needs min > 0)")
        return spec
    if not isinstance(spec, list) or not spec:
        raise UserError(f"--space: {name} must be a non-empty list of choices or a {{min, max}} range")
    if name == "kernel_sizes":
        spec = [",".join(str(k) for k in ks) if isinstance(ks, list) else str(ks) for ks in spec]
        if not all(s and all(k.strip().isdigit() and int(k) > 0 for k in s.split(",")) for s in spec):
            raise UserError("--space: kernel_sizes choices are lists of positive ints, e.g. [[3], [3, 5]]")
    elif name in INT_KEYS and not all(isinstance(x, int) and x > 0 for x in spec):
        raise UserError(f"--space: {name} choices must be positive integers")
    elif name not in INT_KEYS:
        if not _numbers_within(name, spec):
            raise UserError(f"--space: {name} choices must be numbers within {VALUE_BOUNDS[name]}")
        spec = [float(x) for x in spec]  # a Keras Tuner Choice holds one type: [0, 0.2] would be refused
    return spec


def _numbers_within(name, xs):
    lo, hi = VALUE_BOUNDS[name]
    return all(isinstance(x, (int, float)) and not isinstance(x, bool) and lo <= x <= hi for x in xs)


def declare(hp, name, spec):
    """Register one hyperparameter with Keras Tuner and return its value in this trial."""
    if isinstance(spec, dict):
        return hp.Float(name, spec["min"], spec["max"], step=spec.get("step"),
                        sampling=spec.get("sampling", "linear"))
    return hp.Choice(name, spec)


def config_from_values(base, values, vocab_sizes):
    """The Config a trial trains: `base` with the trial's values (rounded, so best.json stays readable)."""
    d = base.to_dict()
    for name, v in values.items():
        if name == "kernel_sizes":
            d[name] = tuple(int(k) for k in v.split(","))
        elif name in ("dropout", "alpha"):
            d[name] = round(float(v), 4)
        elif name == "lr":
            d[name] = float(f"{float(v):.3g}")
        elif name in INT_KEYS:
            d[name] = int(v)
    d["epochs"] = int(values.get("tuner/epochs", base.epochs))  # Hyperband's per-trial epochs
    d["vocab_size"] = vocab_sizes[d["max_vocab"]]
    return Config.from_dict(d)


def smallest_config(base, space, vocab_sizes):
    """The configuration with the smallest estimated int8 size the space allows, and that size."""
    keys = [k for k in SIZE_KEYS if k in space]
    best = None
    for combo in itertools.product(*(space[k] for k in keys)):
        cfg = config_from_values(base, dict(zip(keys, combo)), vocab_sizes)
        size = estimate_int8_bytes(cfg)
        if best is None or size < best[1]:
            best = (cfg, size)
    return best


def _describe(cfg, keys):
    return ", ".join(f"{k} {','.join(map(str, getattr(cfg, k))) if k == 'kernel_sizes' else getattr(cfg, k)}"
                     + (f" (vocab {cfg.vocab_size})" if k == "max_vocab" else "") for k in keys)


# --------------------------------------------------------------------------- data
class Encodings:
    """Train/dev token ids per vocabulary cap, built on first use.

    Only the cap changes the ids: a shorter `max_len` is a prefix of the
    longest one's right-padded ids, so one encoding per cap serves every length.
    """

    def __init__(self, train, dev, min_freq, caps, longest):
        self.train, self.dev = train, dev
        self.vocabs = {cap: Vocab.build(train.sentences, longest, min_freq, cap) for cap in caps}
        self.sizes = {cap: len(v) for cap, v in self.vocabs.items()}
        self._ids = {}

    def get(self, cap, max_len):
        """(Vocab with max_len, train ids, dev ids) exactly as `train.fit` encodes them."""
        if cap not in self._ids:
            v = self.vocabs[cap]
            self._ids[cap] = (v.encode_batch(self.train.sentences), v.encode_batch(self.dev.sentences))
        train_ids, dev_ids = self._ids[cap]
        vocab = Vocab(self.vocabs[cap].itos[2:], max_len)
        return vocab, np.ascontiguousarray(train_ids[:, :max_len]), np.ascontiguousarray(dev_ids[:, :max_len])


# --------------------------------------------------------------------------- training
def student_model(cfg):
    """The Keras 3 model a trial trains: the student inside the Distiller, as `train.fit` builds it."""
    from .distill import Distiller
    from .students import build_student
    return Distiller(build_student(cfg), alpha=cfg.alpha if cfg.distill else 1.0, kind=cfg.distill_loss,
                     temperature=cfg.temperature)


def train_trial(cfg, enc, teacher_logits, run_dir, log):
    """Train one trial with `train.fit`'s recipe; write a run folder of the best dev epoch; never read test."""
    import keras

    from .batches import StudentBatches
    from .train import best_dev_epoch
    vocab, train_ids, dev_ids = enc.get(cfg.max_vocab, cfg.max_len)
    keras.backend.clear_session()  # trials share one process: drop the previous trial's graphs
    keras.utils.set_random_seed(cfg.seed)
    model = student_model(cfg)
    student = model.student
    batches = StudentBatches(cfg.student, train_ids, enc.train.labels, teacher_logits, cfg.batch_size, cfg.seed)
    lr = keras.optimizers.schedules.ExponentialDecay(cfg.lr, decay_steps=len(batches), decay_rate=cfg.gamma,
                                                     staircase=True)
    model.compile(optimizer=keras.optimizers.Adam(lr), jit_compile=False)
    model.optimizer.build(model.trainable_variables)
    os.makedirs(run_dir, exist_ok=True)
    history, best = [], {"dev_accuracy": -1.0, "epoch": 0}

    epoch_end = best_dev_epoch(student, cfg.student, dev_ids, enc.dev.labels,
                               os.path.join(run_dir, "model.weights.h5"), cfg.epochs, history, best, log=log,
                               indent="  ")

    t0 = time.time()
    model.fit(batches.dataset(), epochs=cfg.epochs, callbacks=[epoch_end], shuffle=False, verbose=0)
    vocab.save(os.path.join(run_dir, "vocab.json"))
    atomic_write_json(os.path.join(run_dir, "config.json"), cfg.to_dict())
    return {"dev_accuracy": best["dev_accuracy"], "best_epoch": best["epoch"], "history": history,
            "params": int(student.count_params()), "train_seconds": round(time.time() - t0, 2)}


# --------------------------------------------------------------------------- Keras Tuner
class StudentHyperModel(kt.HyperModel):
    """One student family's search space; `config(hp)` is the trial's Config, `build(hp)` its Keras 3 model."""

    def __init__(self, base, space, vocab_sizes):
        super().__init__(name=f"{base.student}_student")
        self.base, self.space, self.vocab_sizes = base, space, vocab_sizes

    def config(self, hp):
        values = {name: declare(hp, name, spec) for name, spec in self.space.items()}
        return config_from_values(self.base, {**hp.values, **values}, self.vocab_sizes)

    def build(self, hp):
        return student_model(self.config(hp))


class BudgetOracle:
    """Mixed into a Keras Tuner oracle: over-budget samples are drawn again, so they never become trials.

    `_random_values` feeds Random search, Hyperband's new brackets and
    Bayesian's first points; `populate_space` catches a Gaussian-process
    proposal that is over budget and swaps in a feasible random sample.
    """

    fits = staticmethod(lambda values: True)
    rejected = 0
    MAX_DRAWS = 2000

    def _random_values(self):
        for _ in range(self.MAX_DRAWS):
            values = super()._random_values()
            if values is None or self.fits(values):
                return values
            self.rejected += 1
        return None

    def populate_space(self, trial_id):
        response = super().populate_space(trial_id)
        values = response.get("values")
        if response.get("status") == "RUNNING" and values and not self.fits(values):
            self.rejected += 1
            fresh = self._random_values()
            if fresh is None:
                return {"status": "STOPPED"}
            response = {"status": "RUNNING",
                        "values": {**{k: v for k, v in values.items() if k.startswith("tuner/")}, **fresh}}
        return response

    def get_state(self):
        return {**super().get_state(), "over_budget_rejected": self.rejected}

    def set_state(self, state):
        super().set_state(state)
        self.rejected = state.get("over_budget_rejected", 0)


def make_oracle(kind, max_trials, epochs_per_trial, seed):
    """A budget-aware oracle of `kind`, seeded so the same command proposes the same trials."""
    seed = seed + 1 if seed >= 0 else seed  # Keras Tuner swaps a falsy seed (0) for a random one
    objective = kt.Objective(OBJECTIVE, direction="max")
    if kind == "hyperband":
        cls = kt.oracles.HyperbandOracle
        kw = dict(max_epochs=epochs_per_trial, factor=3, hyperband_iterations=10**6)
    elif kind == "bayesian":
        cls = kt.oracles.BayesianOptimizationOracle
        kw = dict(max_trials=max_trials, num_initial_points=max(3, max_trials // 4))
    elif kind == "random":
        cls = kt.oracles.RandomSearchOracle
        kw = dict(max_trials=max_trials)
    else:
        raise UserError(f"unknown tuner {kind!r}; choose one of {', '.join(TUNERS)}")
    budget_cls = type(f"Budget{cls.__name__}", (BudgetOracle, cls), {})
    try:
        oracle = budget_cls(objective=objective, seed=seed, **kw)
    except ImportError:
        raise UserError("--tuner bayesian needs scipy and scikit-learn (pip install 'keras-tuner[bayesian]'); "
                        "or use --tuner hyperband / random") from None
    oracle.max_trials = max_trials  # Hyperband has no max_trials argument; the base Oracle honours it
    return oracle


class StudentTuner(kt.engine.base_tuner.BaseTuner):
    """Runs a trial: budget check, re-encoding for its vocabulary cap, training; records it beside trial.json."""

    def __init__(self, oracle, hypermodel, enc, teacher_logits, budget_bytes, log, **kw):
        self.enc, self.teacher_logits, self.budget_bytes, self.log = enc, teacher_logits, budget_bytes, log
        super().__init__(oracle, hypermodel, **kw)

    def run_trial(self, trial):
        cfg = self.hypermodel.config(trial.hyperparameters)
        estimate = estimate_int8_bytes(cfg)
        record_path = os.path.join(self.get_trial_dir(trial.trial_id), "tfdistil.json")
        record = {"config": cfg.to_dict(), "params": count_params(cfg), "int8_bytes_estimated": estimate}
        if estimate > self.budget_bytes:  # the oracle should never propose this; do not train it anyway
            atomic_write_json(record_path, {**record, "skipped": "over budget"})
            raise kt.errors.FailedTrialError(f"estimated int8 {estimate / KB:.1f} KB is over the budget")
        self.log(f"trial {trial.trial_id}: {_describe(cfg, [k for k in self.hypermodel.space if k in SIZE_KEYS])}, "
                 f"{cfg.epochs} epoch(s): {count_params(cfg)} params, ~{estimate / KB:.1f} KB int8")
        run_dir = os.path.join(self.get_trial_dir(trial.trial_id), "run")
        result = train_trial(cfg, self.enc, self.teacher_logits, run_dir, self.log)
        atomic_write_json(record_path, {**record, **result, "run_dir": run_dir})
        return {OBJECTIVE: result["dev_accuracy"]}

    def on_trial_end(self, trial):
        """Keras Tuner swallows a trial's exception; say on stderr why a trial failed."""
        super().on_trial_end(trial)
        if trial.status != "COMPLETED":
            reason = (trial.message or "").strip().splitlines()[-1:] or ["no message"]
            self.log(f"trial {trial.trial_id} {trial.status}: {reason[0]}")


# --------------------------------------------------------------------------- the command
def tune(student, data, out, tuner="hyperband", max_trials=20, budget_kb=256.0, distill=False,
         teacher_logits=None, epochs_per_trial=5, limit=None, seed=0, batch_size=32, space=None, top_k=3,
         calibration_size=500, eval_limit=None, log=print):
    """Search, then rank trials, measure the top ones' int8 size, retrain/convert/evaluate the winner."""
    _check_args(student, tuner, max_trials, budget_kb, epochs_per_trial, top_k)
    budget_kb = float(budget_kb)
    space = search_space(student, distill, space)
    make_oracle(tuner, max_trials, epochs_per_trial, seed)  # fails fast if Bayesian lacks scipy
    budget = budget_kb * KB
    train = load_split(data, "train", limit)
    dev = load_split(data, "dev")
    base = Config(student=student, distill=distill, epochs=epochs_per_trial, batch_size=batch_size, seed=seed,
                  train_limit=limit or 0, teacher_logits=os.path.abspath(teacher_logits) if teacher_logits else "")
    soft = _teacher_logits(base, train) if distill else None
    enc = Encodings(train, dev, base.min_freq, space["max_vocab"], max(space["max_len"]))
    _check_budget(base, space, enc.sizes, budget, budget_kb)
    settings = {"student": student, "distill": distill, "teacher_logits": base.teacher_logits, "tuner": tuner,
                "budget_kb": budget_kb, "epochs_per_trial": epochs_per_trial, "train_limit": limit or 0,
                "seed": seed, "batch_size": batch_size, "space": space, "train_sha256": train.sha256}
    _claim(out, settings)

    hypermodel = StudentHyperModel(base, space, enc.sizes)
    with contextlib.redirect_stdout(sys.stderr):  # Keras Tuner prints progress on stdout; keep stdout for --json
        oracle = make_oracle(tuner, max_trials, epochs_per_trial, seed)
        oracle.fits = lambda values: estimate_int8_bytes(config_from_values(base, values, enc.sizes)) <= budget
        search = StudentTuner(oracle, hypermodel, enc, soft, budget, log, directory=out, project_name="search")
        log(f"searching {student} ({tuner}, {max_trials} trials, budget {budget_kb:g} KB); "
            f"{len(oracle.trials)} trial(s) recorded in {out} before this run")
        search.search()
    rows = _trial_rows(search)
    completed = [r for r in rows if r["status"] == "COMPLETED"]
    if not completed:
        raise UserError(f"no trial completed in {out}; see {out}/search/trial_*/trial.json for the errors")
    winner = _measure_top(completed, top_k, budget, data, calibration_size, log)
    best = _finish(winner, settings, max_trials, data, out, budget, calibration_size, eval_limit, log)
    _write_leaderboard(rows, space, out)
    return {"out": out, "student": student, "tuner": tuner, "trials": len(rows), "completed": len(completed),
            "over_budget_rejected": oracle.rejected, "best_trial": winner["trial"],
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
    return read_logits(path, "train", train.sha256)[0]


def _check_budget(base, space, vocab_sizes, budget, budget_kb):
    """Refuse before searching when not even the smallest configuration fits."""
    cfg, size = smallest_config(base, space, vocab_sizes)
    if size > budget:
        keys = [k for k in SIZE_KEYS if k in space]
        raise UserError(f"--budget-kb {budget_kb:g} is smaller than any {base.student} configuration in the search "
                        f"space: the smallest ({_describe(cfg, keys)}) is an estimated {size / KB:.1f} KB int8; "
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


def _ranked(rows):
    """Best dev accuracy first; ties go to the smaller model, then the earlier trial."""
    return sorted(rows, key=lambda r: (-r["dev_accuracy"], r["int8_bytes_estimated"], int(r["trial"])))


def _measure_top(completed, top_k, budget, data, calibration_size, log):
    """Convert the top trials to int8 to measure their real size; the winner is the best one that fits."""
    from .export import convert
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
        if winner is None and row["int8_bytes"] <= budget:
            winner = row
        elif winner is None:
            log(f"trial {row['trial']}: int8 is {row['int8_bytes'] / KB:.1f} KB, over the budget; next one")
    if winner is None:
        raise UserError("no completed trial converts to an int8 model within the budget (the size estimate was "
                        "too low for them); search again in a new --out with a slightly smaller --budget-kb")
    return winner


def _finish(winner, settings, max_trials, data, out, budget, calibration_size, eval_limit, log):
    """Retrain the winner with `train.fit`, convert it to int8, run it in TFLM on dev; write best.json."""
    from .export import convert
    from .tflite_eval import evaluate_tflite
    from .train import fit
    cfg = Config.from_dict(winner["config"])
    run_dir = os.path.join(out, "best_run")
    previous = _load_json(os.path.join(out, "best.json"))
    metrics = _load_json(os.path.join(run_dir, "metrics.json"))
    if not (metrics and _same_run(_load_json(os.path.join(run_dir, "config.json")), winner["config"])):
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
                  "fits_budget": conv["bytes"] <= budget, "ops": conv["ops"], "tflm_dev_accuracy": ev["accuracy"],
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


# --------------------------------------------------------------------------- leaderboard
def _leaderboard_table(rows, space):
    """Header and rows, best first; failed trials last."""
    names = [n for n in space if n != "max_vocab"]
    header = ["rank", "trial", "status", "epochs", "max_vocab", "vocab_size", *names, "params",
              "est_int8_kb", "int8_kb", "dev_accuracy", "best_epoch", "train_seconds"]
    done = _ranked([r for r in rows if r["status"] == "COMPLETED"])
    rest = [r for r in rows if r["status"] != "COMPLETED"]
    table = []
    for rank, r in enumerate(done + rest, start=1):
        c = r["config"]
        hp = [",".join(map(str, c[n])) if n == "kernel_sizes" else c[n] for n in names]
        table.append([rank if r in done else "", r["trial"], r["status"], c["epochs"], c["max_vocab"], c["vocab_size"],
                      *hp, r.get("params", ""), _kb(r.get("int8_bytes_estimated")), _kb(r.get("int8_bytes")),
                      _num(r.get("dev_accuracy"), 4), r.get("best_epoch", ""), r.get("train_seconds", "")])
    return header, table


def _kb(n):
    return "" if n is None else f"{n / KB:.1f}"


def _num(x, digits):
    return "" if x is None else f"{x:.{digits}f}"


def _write_leaderboard(rows, space, out):
    header, table = _leaderboard_table(rows, space)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(table)
    atomic_write_text(os.path.join(out, "leaderboard.csv"), buf.getvalue())
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(str(v) for v in row) + " |" for row in table]
    note = ("\nint8_kb is measured (converted) for the top trials only; est_int8_kb is the estimate the budget "
            f"was checked with. KB = {KB} bytes. dev_accuracy is the trial's best epoch.\n")
    atomic_write_text(os.path.join(out, "leaderboard.md"), "\n".join(md) + "\n" + note)
