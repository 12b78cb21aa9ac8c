"""Train a student from a sharded transfer set, streamed with tf.data (never all in memory).

`training.fit` holds every token id and logit in numpy: fine for 67k rows, not
for an augmented transfer set of millions. Here batches come from
`transfer.stream.stream_dataset` (the teacher-labelled TFRecord shards, tokenized
inside tf.data).

Augmented rows have no label (-1): they contribute only the soft (teacher)
term of the distillation loss. The run folder has the same files as
`training.fit`'s, so `tfdistil evaluate`, `predict` and `convert` work on it.
"""
import dataclasses
import json
import os
import resource

import numpy as np

from tfdistil.data.splits import has_split, load_split
from tfdistil.data.vocab import Vocab, read_wordpieces
from tfdistil.files import atomic_save, check_free_space, atomic_write_json, check_output_folder, open_partial
from tfdistil.errors import UserError
from tfdistil.runfolder import CONFIG, HISTORY, VOCAB, WEIGHTS
from tfdistil.students.teacher_embeddings import check_teacher_dir, init_student_embeddings
from tfdistil.training.fit import _accuracy, _keras, publish_run
from tfdistil.transfer.shards import shard_files
from tfdistil.transfer.stream import stream_dataset


def masked_distillation_loss(labels, teacher_logits, student_logits, alpha=0.5, kind="mse", temperature=1.0,
                             disagree=0.0):
    """distill.distillation_loss where rows labelled -1 (augmented) contribute only the soft term.

    CE is averaged over the labelled rows of the batch (0 when there are none),
    the soft term over all rows; with every row labelled this equals
    distillation_loss exactly.
    """
    import keras
    from keras import ops
    from tfdistil.training.distill import distillation_loss
    has = ops.cast(ops.greater_equal(labels, 0), "float32")
    safe = ops.maximum(labels, 0)
    ce_rows = keras.losses.sparse_categorical_crossentropy(safe, student_logits, from_logits=True)
    ce = ops.sum(ce_rows * has) / ops.maximum(ops.sum(has), 1.0)
    if alpha == 1.0:
        return ce
    # alpha=0 makes distillation_loss return its soft term alone: the same MSE / KL math.
    soft = distillation_loss(safe, teacher_logits, student_logits, alpha=0.0, kind=kind, temperature=temperature,
                             disagree=disagree)
    return alpha * ce + (1.0 - alpha) * soft


def _stream_distiller():
    from tfdistil.training.distill import Distiller

    class StreamDistiller(Distiller):
        """Distiller whose loss skips the label term on unlabelled (-1) rows."""

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return masked_distillation_loss(y["label"], y["teacher_logits"], y_pred,
                                            self.alpha, self.kind, self.temperature, self.disagree)

    return StreamDistiller


def peak_rss_mb():
    """This process's peak resident memory (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def fit_stream(cfg, shards_dir, data, out, log=print, steps_per_epoch=None, shuffle_buffer=10_000, cycle_length=4,
               callbacks=(), overwrite=False, restart=False):
    """Distil `cfg.student` from the shards in `shards_dir`; keep the best dev epoch; return metrics.json.

    The vocabulary comes from the SST-2 train split of `data` (as in training.fit),
    dev accuracy picks the epoch. `steps_per_epoch` caps an epoch (the
    transfer set then repeats), e.g. to measure memory on a huge set;
    `callbacks` are extra Keras callbacks (experiments/ablations/stream_memory.py samples RSS). `cfg`
    is not changed: the effective config goes to OUT/config.json.
    """
    cfg = dataclasses.replace(cfg)  # ours to fill in; the caller's Config stays as given
    shard_files(shards_dir)  # a missing or unfinished transfer set fails before TensorFlow loads
    out = out.rstrip("/")
    check_output_folder(out, overwrite)
    if cfg.embed_init:
        check_teacher_dir(cfg.embed_init)
    train = load_split(data, "train", cfg.train_limit or None)
    wordpieces = read_wordpieces(cfg.subwords) if cfg.subwords else None  # a bad path fails before TF loads
    dev = load_split(data, "dev")
    partial, lock = open_partial(out, "run", overwrite, restart)
    keras = _keras()
    from tfdistil.students.builders import build_student
    from tfdistil.training.recipe import train_epochs

    vocab = Vocab.build(train.sentences, cfg.max_len, cfg.min_freq, cfg.max_vocab or None, train.label_names,
                        cfg.hash_buckets, wordpieces, class_names=train.class_names)
    cfg.num_classes = len(train.label_names)
    cfg.vocab_size, cfg.distill, cfg.teacher_logits = len(vocab), True, shards_dir
    dev_ids = vocab.encode_batch(dev.sentences)

    keras.utils.set_random_seed(cfg.seed)
    _, manifest = shard_files(shards_dir)
    if manifest.get("num_labels", 2) != cfg.num_classes:
        raise UserError(f"{shards_dir}: the shards' teacher has {manifest.get('num_labels', 2)} classes, the data "
                        f"{cfg.num_classes} ({', '.join(train.label_names)})")
    student = build_student(cfg)
    if cfg.embed_init:
        init_student_embeddings(student, vocab, cfg.embed_init, log)
    # best + last weights and Adam's two moments at 4 bytes a parameter, one spare copy while renaming
    check_free_space(partial, 6 * 4 * student.count_params() + (1 << 20), "training this student")
    model = _stream_distiller()(student, alpha=cfg.alpha, kind=cfg.distill_loss, temperature=cfg.temperature,
                                disagree=cfg.disagree_weight)

    def epoch_data(epoch):  # shuffled from (seed, epoch): a resumed run replays the same order
        ds, _ = stream_dataset(shards_dir, vocab, cfg.student, cfg.batch_size, shuffle_buffer,
                               cfg.seed * 100_003 + epoch, cycle_length, repeat=bool(steps_per_epoch))
        return ds, steps_per_epoch

    fingerprint = json.loads(json.dumps({**cfg.to_dict(), "vocab_size": None, "train_sha256": train.sha256,
                                         "shards": manifest.get("rows"), "steps_per_epoch": steps_per_epoch}))
    history, best, train_seconds = train_epochs(model, student, cfg, epoch_data, dev_ids, dev.labels, partial,
                                                fingerprint, log=log, callbacks=callbacks,
                                                row=lambda e: {"peak_rss_mb": peak_rss_mb()})
    atomic_save(os.path.join(partial, WEIGHTS), student.save_weights)
    vocab.save(os.path.join(partial, VOCAB))
    atomic_write_json(os.path.join(partial, CONFIG), cfg.to_dict())
    atomic_write_json(os.path.join(partial, HISTORY), history)
    labelled = sum(s.get("labelled_rows", 0) for s in manifest["shards"])
    metrics = {"student": cfg.student, "distilled": True, "augmented": labelled < manifest["rows"],
               "seed": cfg.seed, "params": int(student.count_params()), "vocab_size": cfg.vocab_size, "tokens": vocab.kind(),
               "best_epoch": best["epoch"], "dev_accuracy": best["dev_accuracy"],
               "train_rows": manifest["rows"], "labelled_rows": labelled,
               "unlabelled_rows": manifest["rows"] - labelled, "steps_per_epoch": steps_per_epoch,
               "train_seconds": round(train_seconds, 1),
               "seconds_per_epoch": round(float(np.mean([h["seconds"] for h in history])), 2),
               "peak_rss_mb": peak_rss_mb(), "vocab_sha256": vocab.sha256(), "data_train_sha256": train.sha256, "teacher_logits": shards_dir,
               "transfer_set": {"dir": shards_dir, "shards": len(manifest["shards"]), "rows": manifest["rows"],
                                "teacher": manifest.get("teacher"), "sources": manifest.get("sources"),
                                # Teacher forward passes summed over every `teacher shards` run that made it.
                                "labelling": manifest.get("throughput")}}
    if has_split(data, "test"):
        metrics["test_accuracy"] = _accuracy(student, cfg.student, vocab, load_split(data, "test"))
    return publish_run(partial, out, lock, metrics, history, cfg, best["epoch"])
