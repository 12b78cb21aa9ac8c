"""Train a student (baseline or distilled), keep the best dev epoch, write a run folder.

A run folder holds: config.json, vocab.json, model.weights.h5 (best dev epoch),
history.json (per epoch), metrics.json, history.png. It is built in
`OUT.partial/` and renamed into place when training ends, so an interrupted
run never leaves a half-written OUT; rerunning the same command resumes from
the last finished epoch kept in `OUT.partial/`.
"""
import json
import os
import shutil
import sys
import time

import numpy as np

from tfdistil.config import Config
from tfdistil.data.splits import load_split
from tfdistil.data.vocab import Vocab
from tfdistil.files import atomic_write_json
from tfdistil.errors import UserError
from tfdistil.teacher.logits_cache import SHIPPED, read_logits
from tfdistil.progress import progress

RUN_FILES = ("config.json", "vocab.json", "model.weights.h5")


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    return keras


def fit(cfg: Config, data, out, log=print):
    """Train `cfg.student` on `data`; return metrics.json's content."""
    keras = _keras()
    from tfdistil.training.batches import StudentBatches
    from tfdistil.training.distill import Distiller
    from tfdistil.students.builders import build_student

    out = out.rstrip("/")
    train = load_split(data, "train", cfg.train_limit or None)
    dev = load_split(data, "dev")
    teacher_logits = None
    if cfg.distill:
        path = cfg.teacher_logits or SHIPPED
        if not os.path.isfile(path):
            raise UserError(f"--distill needs teacher logits: {path} not found; make them with "
                            f"`tfdistil teacher logits --teacher DIR --out FILE` and pass --teacher-logits FILE")
        teacher_logits, header = read_logits(path, "train", train.sha256)
        cfg.teacher_logits = path

    partial = out + ".partial"
    state_path = os.path.join(partial, "state.json")
    resume = None
    if os.path.isfile(state_path):
        with open(state_path) as f:
            resume = json.load(f)
        if resume["config"] != _comparable(cfg, train.sha256):
            log(f"{partial}: left by a run with other settings; starting over")
            resume = None
    if resume is None:
        shutil.rmtree(partial, ignore_errors=True)
        os.makedirs(partial)

    vocab = Vocab.build(train.sentences, cfg.max_len, cfg.min_freq, cfg.max_vocab or None)
    cfg.vocab_size = len(vocab)
    train_ids, dev_ids = vocab.encode_batch(train.sentences), vocab.encode_batch(dev.sentences)

    keras.utils.set_random_seed(cfg.seed)
    student = build_student(cfg)
    model = Distiller(student, alpha=cfg.alpha if cfg.distill else 1.0, kind=cfg.distill_loss,
                      temperature=cfg.temperature)
    batches = StudentBatches(cfg.student, train_ids, train.labels, teacher_logits, cfg.batch_size, cfg.seed)
    # StepLR(gamma) per epoch, as in the paper.
    lr = keras.optimizers.schedules.ExponentialDecay(cfg.lr, decay_steps=len(batches), decay_rate=cfg.gamma,
                                                     staircase=True)
    model.compile(optimizer=keras.optimizers.Adam(lr), jit_compile=False)
    model.optimizer.build(model.trainable_variables)

    history, best = [], {"dev_accuracy": -1.0, "epoch": 0}
    start_epoch = 0
    if resume:
        student.load_weights(os.path.join(partial, "last.weights.h5"))
        with np.load(os.path.join(partial, "optimizer.npz")) as z:
            for i, v in enumerate(model.optimizer.variables):
                v.assign(z[f"v{i}"])
        history, best, start_epoch = resume["history"], resume["best"], resume["epoch"]
        batches.epoch = start_epoch
        log(f"resuming {out} after epoch {start_epoch}")

    def checkpoint(epoch):  # what a rerun resumes from
        student.save_weights(os.path.join(partial, "last.weights.h5"))
        np.savez(os.path.join(partial, "optimizer.npz"),
                 **{f"v{i}": v.numpy() for i, v in enumerate(model.optimizer.variables)})
        atomic_write_json(state_path, {"config": _comparable(cfg, train.sha256), "epoch": epoch + 1,
                                       "history": history, "best": best})

    epoch_lr = lambda e: {"lr": float(lr(model.optimizer.iterations - 1))}  # noqa: E731
    epoch_end = best_dev_epoch(student, cfg.student, dev_ids, dev.labels, os.path.join(partial, "model.weights.h5"),
                               cfg.epochs, history, best, row=epoch_lr, after=checkpoint, log=log)

    t0 = time.time()
    if start_epoch < cfg.epochs:
        model.fit(batches.dataset(), epochs=cfg.epochs, initial_epoch=start_epoch, callbacks=[epoch_end],
                  shuffle=False,  # StudentBatches shuffles (bucketed) itself
                  verbose=1 if sys.stderr.isatty() else 2)  # one line per epoch in logs
    train_seconds = time.time() - t0

    student.load_weights(os.path.join(partial, "model.weights.h5"))
    vocab.save(os.path.join(partial, "vocab.json"))
    atomic_write_json(os.path.join(partial, "config.json"), cfg.to_dict())
    atomic_write_json(os.path.join(partial, "history.json"), history)
    metrics = {"student": cfg.student, "distilled": cfg.distill, "seed": cfg.seed,
               "params": int(student.count_params()), "vocab_size": cfg.vocab_size,
               "best_epoch": best["epoch"], "dev_accuracy": best["dev_accuracy"],
               "train_rows": len(train), "train_seconds": round(train_seconds, 1),
               "seconds_per_epoch": round(float(np.mean([h["seconds"] for h in history])), 2),
               "data_train_sha256": train.sha256, "teacher_logits": cfg.teacher_logits or None}
    test_path = os.path.join(data, "test.tsv") if data != "tfds" else None
    if test_path and os.path.isfile(test_path):
        test = load_split(data, "test")
        metrics["test_accuracy"] = _accuracy(student, cfg.student, vocab, test)
    _plot_history(history, os.path.join(partial, "history.png"), cfg)
    for f in ("last.weights.h5", "optimizer.npz", "state.json"):
        os.remove(os.path.join(partial, f))
    atomic_write_json(os.path.join(partial, "metrics.json"), metrics)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.replace(partial, out)
    metrics["run_dir"] = out
    return metrics


def best_dev_epoch(student, family, dev_ids, dev_labels, best_path, epochs, history, best,
                   row=lambda epoch: {}, after=lambda epoch: None, log=print, indent=""):
    """The Keras callback every trainer here shares (fit, fit-stream, tuner trials): after each
    epoch, dev accuracy -> a `history` row (plus `row(epoch)`'s fields), the best epoch's weights
    saved to `best_path`, then `after(epoch)` (e.g. a resume checkpoint). The best epoch, not the
    last, is what a run ships: the paper picks its epoch on dev."""
    import keras

    from tfdistil.training.batches import predict_logits

    class BestDevEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.time()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.time() - self.t0
            acc = float(np.mean(np.argmax(predict_logits(student, family, dev_ids), -1) == dev_labels))
            history.append({"epoch": epoch + 1, "loss": float(logs["loss"]), "dev_accuracy": acc,
                            **row(epoch), "seconds": round(seconds, 2)})
            if acc > best["dev_accuracy"]:
                best.update(dev_accuracy=acc, epoch=epoch + 1)
                student.save_weights(best_path)
            after(epoch)
            log(f"{indent}epoch {epoch + 1}/{epochs}: loss {history[-1]['loss']:.4f} dev {acc:.4f} ({seconds:.1f} s)")

    return BestDevEpoch()


def _comparable(cfg, train_sha):
    d = cfg.to_dict()
    d.pop("vocab_size")
    return json.loads(json.dumps({**d, "train_sha256": train_sha}))  # tuples -> lists, as stored


def _accuracy(student, name, vocab, split):
    from tfdistil.training.batches import predict_logits
    logits = predict_logits(student, name, vocab.encode_batch(split.sentences))
    return float(np.mean(np.argmax(logits, -1) == split.labels))


def _plot_history(history, path, cfg):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot([h["epoch"] for h in history], [100 * h["dev_accuracy"] for h in history], marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel("dev accuracy (%)")
    ax.set_title(f"{cfg.student} {'distilled' if cfg.distill else 'baseline'} (seed {cfg.seed})")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def load_run(run_dir):
    """(Config, Vocab, Keras 3 student with the best weights) from a run folder."""
    if not os.path.isdir(run_dir):
        raise UserError(f"{run_dir}: run folder not found")
    missing = [f for f in RUN_FILES if not os.path.isfile(os.path.join(run_dir, f))]
    if missing:
        raise UserError(f"{run_dir}: not a tfdistil run folder (missing {', '.join(missing)})")
    cfg = Config.load(os.path.join(run_dir, "config.json"))
    vocab = Vocab.load(os.path.join(run_dir, "vocab.json"))
    _keras()
    from tfdistil.students.builders import build_student
    student = build_student(cfg)
    student.load_weights(os.path.join(run_dir, "model.weights.h5"))
    return cfg, vocab, student


def evaluate(run_dir, data, split="test"):
    cfg, vocab, student = load_run(run_dir)
    s = load_split(data, split)
    t0 = time.time()
    acc = _accuracy(student, cfg.student, vocab, s)
    return {"run_dir": run_dir, "student": cfg.student, "split": split, "accuracy": acc, "n": len(s),
            "params": int(student.count_params()), "seconds": round(time.time() - t0, 3)}


def predict(run_dir, texts):
    """[{text, label, probability_positive}] for raw texts; empty/unknown-only texts are fine."""
    from tfdistil.training.batches import predict_logits
    cfg, vocab, student = load_run(run_dir)
    logits = predict_logits(student, cfg.student, vocab.encode_batch(list(texts)))
    e = np.exp(logits - logits.max(-1, keepdims=True))
    p = e[:, 1] / e.sum(-1)
    return [{"text": t, "label": int(pi > 0.5), "probability_positive": round(float(pi), 6)}
            for t, pi in zip(texts, p)]
