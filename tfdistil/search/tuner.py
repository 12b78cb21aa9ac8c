"""Keras Tuner pieces: per-cap encodings, one trial's training (the shared recipe), the hypermodel,
the budget-aware oracle and the tuner that runs each trial itself.
"""
import json
import os
import keras_tuner as kt
import numpy as np
from tfdistil.data.vocab import Vocab
from tfdistil.files import atomic_save, atomic_write_json, mark
from tfdistil.errors import UserError
from tfdistil.runfolder import CONFIG, VOCAB, WEIGHTS
from tfdistil.search.space import KB, OBJECTIVE, SIZE_KEYS, TUNERS, _describe, config_from_values, count_params, declare, estimate_int8_bytes


# --------------------------------------------------------------------------- data
class Encodings:
    """Train/dev token ids per vocabulary cap, built on first use.

    Only the cap changes the ids: a shorter `max_len` is a prefix of the
    longest one's right-padded ids, so one encoding per cap serves every length.
    """

    def __init__(self, train, dev, min_freq, caps, longest, wordpieces=None):
        self.train, self.dev = train, dev
        self.vocabs = {cap: Vocab.build(train.sentences, longest, min_freq, cap, train.label_names, wordpieces=wordpieces,
                                         class_names=train.class_names)
                       for cap in caps}
        self.sizes = {cap: len(v) for cap, v in self.vocabs.items()}
        self._ids = {}

    def get(self, cap, max_len):
        """(Vocab with max_len, train ids, dev ids) exactly as `training.fit` encodes them."""
        if cap not in self._ids:
            v = self.vocabs[cap]
            self._ids[cap] = (v.encode_batch(self.train.sentences), v.encode_batch(self.dev.sentences))
        train_ids, dev_ids = self._ids[cap]
        vocab = Vocab(self.vocabs[cap].itos[2:], max_len, self.train.label_names, subwords=self.vocabs[cap].subwords,
                      class_names=self.train.class_names)
        return vocab, np.ascontiguousarray(train_ids[:, :max_len]), np.ascontiguousarray(dev_ids[:, :max_len])


# --------------------------------------------------------------------------- training
def student_model(cfg):
    """The Keras 3 model a trial trains: the student inside the Distiller, as `training.fit` builds it."""
    from tfdistil.training.distill import Distiller
    from tfdistil.students.builders import build_student
    return Distiller(build_student(cfg), alpha=cfg.alpha if cfg.distill else 1.0, kind=cfg.distill_loss,
                     temperature=cfg.temperature, disagree=cfg.disagree_weight)


def train_trial(cfg, enc, teacher_logits, run_dir, log):
    """Train one trial with the shared recipe (as `tfdistil fit` would); write a run folder of its
    best dev epoch; never read test. A killed trial resumes from its last complete epoch."""
    import keras

    from tfdistil.training.batches import StudentBatches
    from tfdistil.training.fit import finish
    from tfdistil.training.recipe import train_epochs
    vocab, train_ids, dev_ids = enc.get(cfg.max_vocab, cfg.max_len)
    keras.backend.clear_session()  # trials share one process: drop the previous trial's graphs
    keras.utils.set_random_seed(cfg.seed)
    model = student_model(cfg)
    student = model.student
    batches = StudentBatches(cfg.student, train_ids, enc.train.labels, teacher_logits, cfg.batch_size, cfg.seed,
                             cfg.word_dropout)

    def epoch_data(epoch):
        batches.epoch = epoch
        return batches.dataset(), None

    partial = run_dir + ".partial"
    os.makedirs(partial, exist_ok=True)
    mark(partial, "run")
    fingerprint = json.loads(json.dumps(cfg.to_dict()))
    history, best, seconds = train_epochs(model, student, cfg, epoch_data, dev_ids, enc.dev.labels, partial,
                                          fingerprint, log=log, indent="  ")
    atomic_save(os.path.join(partial, WEIGHTS), student.save_weights)
    vocab.save(os.path.join(partial, VOCAB))
    atomic_write_json(os.path.join(partial, CONFIG), cfg.to_dict())
    finish(partial, run_dir)
    return {"dev_accuracy": best["dev_accuracy"], "best_epoch": best["epoch"], "history": history,
            "params": int(student.count_params()), "train_seconds": round(seconds, 2)}


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
        raise UserError("--tuner bayesian needs scikit-learn: pip install 'tfdistil[bayesian]' "
                        "(or use --tuner hyperband / random)") from None
    oracle.max_trials = max_trials  # Hyperband has no max_trials argument; the base Oracle honours it
    return oracle


class StudentTuner(kt.engine.base_tuner.BaseTuner):
    """Runs a trial: budget check, re-encoding for its vocabulary cap, training; records it beside trial.json."""

    def __init__(self, oracle, hypermodel, enc, teacher_logits, budget_bytes, log, **kw):
        # budget_bytes: bytes, or f(cfg) -> bytes (a budget that also pays for the trial's vocabulary)
        self.enc, self.teacher_logits, self.log = enc, teacher_logits, log
        self.budget_bytes = budget_bytes if callable(budget_bytes) else (lambda cfg: budget_bytes)
        super().__init__(oracle, hypermodel, **kw)

    def run_trial(self, trial):
        cfg = self.hypermodel.config(trial.hyperparameters)
        estimate = estimate_int8_bytes(cfg)
        record_path = os.path.join(self.get_trial_dir(trial.trial_id), "tfdistil.json")
        record = {"config": cfg.to_dict(), "params": count_params(cfg), "int8_bytes_estimated": estimate}
        if estimate > self.budget_bytes(cfg):  # the oracle should never propose this; do not train it anyway
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
