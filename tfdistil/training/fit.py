"""Train a student (baseline or distilled), keep the best dev epoch, write a run folder.

A run folder holds: config.json, vocab.json, model.weights.h5 (best dev epoch),
history.json (per epoch), metrics.json, history.png. It is built in
`OUT.partial/` and renamed into place when training ends, so an interrupted
run never leaves a half-written OUT; rerunning the same command resumes from
the last finished epoch kept in `OUT.partial/`.
"""
import dataclasses
import json
import os
import time

import numpy as np

from tfdistil.config import Config
from tfdistil.data.splits import has_split, load_split, task_notes
from tfdistil.data.vocab import Vocab, read_wordpieces
from tfdistil.files import atomic_save, check_free_space, atomic_write_json, check_output_folder, is_ours, open_partial, publish
from tfdistil.errors import UserError
from tfdistil.runfolder import CONFIG, HISTORY, HISTORY_PLOT, METRICS, RUN_FILES, VOCAB, WEIGHTS
from tfdistil.students.teacher_embeddings import check_teacher_dir, init_student_embeddings
from tfdistil.teacher.logits_cache import SHIPPED, SHIPPED_NAME, read_logits


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    return keras


def fit(cfg: Config, data, out, log=print, overwrite=False, restart=False):
    """Train `cfg.student` on `data`; return metrics.json's content.

    `out` is checked before anything loads (see files.check_output_folder): tfdistil
    never writes into a folder it did not make. Work happens in `OUT.partial/` (locked,
    checkpointed every epoch) and is renamed to `OUT` at the end. `cfg` is not changed: the
    effective config (classes, vocabulary size, teacher logits) goes to OUT/config.json.
    """
    cfg = dataclasses.replace(cfg)  # ours to fill in; the caller's Config stays as given
    out = out.rstrip("/")
    train = load_split(data, "train", cfg.train_limit or None)
    wordpieces = read_wordpieces(cfg.subwords) if cfg.subwords else None  # a bad path fails before TF loads
    cfg.num_classes = len(train.label_names)
    for note in task_notes(data):
        log(f"note: {note}")
    done = finished_run(out, cfg, train.sha256) if not overwrite else None
    if done:
        log(f"{out}: already finished with these settings; nothing to do (--overwrite retrains)")
        return done
    check_output_folder(out, overwrite)
    if cfg.embed_init:
        check_teacher_dir(cfg.embed_init)
    dev = load_split(data, "dev")
    teacher_logits = None
    if cfg.distill:
        path = cfg.teacher_logits or SHIPPED
        if not os.path.isfile(path):
            raise UserError(f"--distill needs teacher logits: {path} not found; make them with "
                            f"`tfdistil teacher logits --teacher DIR --out FILE` and pass --teacher-logits FILE")
        teacher_logits, header = read_logits(path, "train", train.sha256, len(train))
        cached = header.get("label_names")  # caches written before names were stored: SST-2's 0/1
        if cached and list(cached) != list(train.label_names):
            raise UserError(f"{path}: teacher logits for classes {', '.join(cached)}; the data has "
                            f"{', '.join(train.label_names)}")
        if teacher_logits.shape[1] != cfg.num_classes:
            raise UserError(f"{path}: teacher logits have {teacher_logits.shape[1]} classes, the data has "
                            f"{cfg.num_classes} ({', '.join(train.label_names)})")
        cfg.teacher_logits = path
    partial, lock = open_partial(out, "run", overwrite, restart)

    keras = _keras()
    from tfdistil.students.builders import build_student
    from tfdistil.training.batches import StudentBatches
    from tfdistil.training.distill import Distiller
    from tfdistil.training.recipe import train_epochs

    vocab = Vocab.build(train.sentences, cfg.max_len, cfg.min_freq, cfg.max_vocab or None, train.label_names,
                        cfg.hash_buckets, wordpieces, class_names=train.class_names)
    cfg.vocab_size = len(vocab)
    train_ids, dev_ids = vocab.encode_batch(train.sentences), vocab.encode_batch(dev.sentences)

    keras.utils.set_random_seed(cfg.seed)
    student = build_student(cfg)
    if cfg.embed_init:
        init_student_embeddings(student, vocab, cfg.embed_init, log)
    # best + last weights and Adam's two moments at 4 bytes a parameter, one spare copy while renaming
    check_free_space(partial, 6 * 4 * student.count_params() + (1 << 20), "training this student")
    model = Distiller(student, alpha=cfg.alpha if cfg.distill else 1.0, kind=cfg.distill_loss,
                      temperature=cfg.temperature, disagree=cfg.disagree_weight)
    batches = StudentBatches(cfg.student, train_ids, train.labels, teacher_logits, cfg.batch_size, cfg.seed,
                             cfg.word_dropout)

    def epoch_data(epoch):
        batches.epoch = epoch  # the order of epoch e depends only on (seed, e)
        return batches.dataset(), None

    history, best, train_seconds = train_epochs(model, student, cfg, epoch_data, dev_ids, dev.labels, partial,
                                                _comparable(cfg, train.sha256), log=log)
    atomic_save(os.path.join(partial, WEIGHTS), student.save_weights)
    vocab.save(os.path.join(partial, VOCAB))
    cfg.teacher_logits = portable_path(cfg.teacher_logits)
    atomic_write_json(os.path.join(partial, CONFIG), cfg.to_dict())
    atomic_write_json(os.path.join(partial, HISTORY), history)
    metrics = {"student": cfg.student, "distilled": cfg.distill, "seed": cfg.seed,
               "params": int(student.count_params()), "vocab_size": cfg.vocab_size, "tokens": vocab.kind(),
               "vocab_sha256": vocab.sha256(), "best_epoch": best["epoch"], "dev_accuracy": best["dev_accuracy"],
               "train_rows": len(train), "train_seconds": round(train_seconds, 1),
               "seconds_per_epoch": round(float(np.mean([h["seconds"] for h in history])), 2),
               "data_train_sha256": train.sha256,
               "teacher_logits": cfg.teacher_logits or (SHIPPED_NAME if cfg.distill else None)}
    if has_split(data, "test"):
        test = load_split(data, "test")
        from tfdistil.metrics import classification_report
        from tfdistil.training.batches import predict_logits
        pred = predict_logits(student, cfg.student, vocab.encode_batch(test.sentences)).argmax(-1)
        report = classification_report(test.labels, pred, vocab.labels)
        metrics["test_accuracy"], metrics["test_macro_f1"] = report["accuracy"], report["macro_f1"]
    return publish_run(partial, out, lock, metrics, history, cfg, best["epoch"])


def finished_run(out, cfg, train_sha):
    """metrics.json of a finished tfdistil run at `out` made with `cfg` on the same data, else None:
    rerunning a command that already finished is not an error."""
    try:
        with open(os.path.join(out, METRICS)) as f:
            metrics = json.load(f)
        done_cfg = Config.load(os.path.join(out, CONFIG))
    except (OSError, ValueError, UserError):
        return None
    want = cfg.to_dict()
    want["teacher_logits"] = portable_path(cfg.teacher_logits or (SHIPPED if cfg.distill else ""))
    have = done_cfg.to_dict()
    for d in (want, have):
        d.pop("vocab_size")
    if not is_ours(out) or json.loads(json.dumps(want)) != json.loads(json.dumps(have)) or \
            metrics.get("data_train_sha256") != train_sha:
        return None
    return {**metrics, "run_dir": out}


def publish_run(partial, out, lock, metrics, history, cfg, best_epoch):
    """The last step of `fit` and `fit-stream`: the history plot and metrics.json go into
    OUT.partial, which becomes OUT; returns the metrics with `run_dir`."""
    _plot_history(history, os.path.join(partial, HISTORY_PLOT), cfg, best_epoch)
    atomic_write_json(os.path.join(partial, METRICS), metrics)
    finish(partial, out)
    lock.release()
    return {**metrics, "run_dir": out}


def finish(partial, out):
    """Drop the checkpoints and publish OUT.partial as OUT."""
    from tfdistil.training.recipe import Checkpoints
    Checkpoints(partial, None).clear()
    publish(partial, out)


def portable_path(path):
    """A path as stored in a run folder: relative when under the working folder (never an
    absolute path into one checkout); the shipped cache as "" (its default)."""
    if not path:
        return ""
    if os.path.abspath(path) == os.path.abspath(SHIPPED):
        return ""
    rel = os.path.relpath(os.path.abspath(path))
    return path if rel.startswith("..") else rel


def _comparable(cfg, train_sha):
    d = cfg.to_dict()
    d.pop("vocab_size")
    return json.loads(json.dumps({**d, "train_sha256": train_sha}))  # tuples -> lists, as stored


def _accuracy(student, name, vocab, split):
    from tfdistil.training.batches import predict_logits
    logits = predict_logits(student, name, vocab.encode_batch(split.sentences))
    return float(np.mean(np.argmax(logits, -1) == split.labels))


def _plot_history(history, path, cfg, best_epoch=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.2))
    from matplotlib.ticker import MaxNLocator
    ax.plot([h["epoch"] for h in history], [100 * h["dev_accuracy"] for h in history], marker="o")
    if best_epoch:  # the epoch the run ships, marked
        best = next(h for h in history if h["epoch"] == best_epoch)
        ax.plot([best_epoch], [100 * best["dev_accuracy"]], marker="*", markersize=14, color="tab:orange",
                linestyle="none", label=f"best dev epoch ({best_epoch})")
        ax.legend(loc="lower right", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
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
    cfg = Config.load(os.path.join(run_dir, CONFIG))
    vocab = Vocab.load(os.path.join(run_dir, VOCAB))
    check_run_vocab(run_dir, cfg, vocab)
    _keras()
    from tfdistil.students.builders import build_student
    student = build_student(cfg)
    load_weights(student, os.path.join(run_dir, WEIGHTS))
    return cfg, vocab, student


def check_run_vocab(run_dir, cfg, vocab):
    """Another run's vocab.json maps words to the wrong rows: accuracy near chance, exit 0. Refuse it."""
    wrong = f"{os.path.join(run_dir, VOCAB)}: not this run's vocabulary"
    if cfg.vocab_size and len(vocab) != cfg.vocab_size:
        raise UserError(f"{wrong} ({len(vocab)} words; the model was trained with {cfg.vocab_size})")
    try:
        with open(os.path.join(run_dir, METRICS)) as f:
            recorded = json.load(f).get("vocab_sha256")
    except (OSError, ValueError, AttributeError):
        recorded = None  # runs made before the fingerprint was recorded: the size check above
    if recorded and recorded != vocab.sha256():
        raise UserError(f"{wrong} (its words differ from the ones recorded in metrics.json)")


def load_weights(model, path):
    """Keras weights, or one line saying the file is damaged (a truncated .h5 is an h5py traceback)."""
    try:
        model.load_weights(path)
    except (OSError, ValueError, KeyError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0][:160]
        raise UserError(f"{path}: cannot read the weights ({first}); the file is damaged or not this "
                        "run's: retrain or restore it") from None


def evaluate(run_dir, data, split="test", plot=None, slices=None, teacher_logits=None):
    """Accuracy, macro-F1, per-class precision/recall and the confusion matrix (`plot`: also a PNG),
    and per slice (`slices`: a file, {name: regex} or None for the English defaults; see tfdistil.slices)."""
    from tfdistil.slices import evaluate_slices, resolve
    slices = resolve(slices)  # a bad slices file fails before the model loads
    from tfdistil.metrics import classification_report, plot_confusion
    from tfdistil.training.batches import predict_logits
    s = load_split(data, split)  # a bad --data is one line before TensorFlow loads (load_run)
    cfg, vocab, student = load_run(run_dir)
    check_labels(run_dir, vocab, s)
    t0 = time.time()
    pred = predict_logits(student, cfg.student, vocab.encode_batch(s.sentences)).argmax(-1)
    report = classification_report(s.labels, pred, vocab.labels)
    if plot:
        plot_confusion(report, plot, f"{cfg.student} on {split}: accuracy {100 * report['accuracy']:.2f}, "
                                     f"macro-F1 {100 * report['macro_f1']:.2f}")
    return {"run_dir": run_dir, "student": cfg.student, "split": split, "accuracy": report["accuracy"],
            "macro_f1": report["macro_f1"], "n": len(s), "params": int(student.count_params()),
            "seconds": round(time.time() - t0, 3), **({"plot": plot} if plot else {}),
            "per_class": report["per_class"], "confusion": report["confusion"], "labels": report["labels"],
            "slices": evaluate_slices(s, pred, vocab.labels, slices, teacher_logits)}


def check_labels(run_dir, vocab, split):
    """Data labelled with other classes than the run was trained on would be scored by index: refuse."""
    if tuple(split.label_names) != tuple(vocab.labels):
        raise UserError(f"{run_dir} was trained on classes {', '.join(vocab.labels)}; this data has "
                        f"{', '.join(split.label_names)}")


def predict(run_dir, texts):
    """[{text, label, label_name, probability, (binary) probability_positive, (recorded) class_name, truncated_to}] for raw
    texts; empty/unknown-only texts are fine."""
    from tfdistil.training.batches import predict_logits
    cfg, vocab, student = load_run(run_dir)
    logits = predict_logits(student, cfg.student, vocab.encode_batch(list(texts)))
    e = np.exp(logits - logits.max(-1, keepdims=True))
    probs = e / e.sum(-1, keepdims=True)
    full = [len(vocab.encode(t, pad=False, max_len=1 << 30)) for t in texts]
    rows = []
    for t, p, n in zip(texts, probs, full):
        k = int(p.argmax())
        row = {"text": t, "label": k, "label_name": vocab.labels[k], "probability": round(float(p[k]), 6),
               "truncated_to": vocab.max_len if n > vocab.max_len else None}
        if len(vocab.labels) == 2:
            row["probability_positive"] = round(float(p[1]), 6)
        if vocab.class_names:  # SST-2's 0/1 read as negative/positive (recorded at fit time)
            row["class_name"] = vocab.class_names[k]
        rows.append(row)
    return rows
