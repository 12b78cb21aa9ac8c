"""Train a student from a sharded transfer set, streamed with tf.data (never all in memory).

`train.fit` holds every token id and logit in numpy: fine for 67k rows, not
for an augmented transfer set of millions. Here rows come from the TFRecord
shards of `shards.py` and are tokenized inside the tf.data pipeline with the
same rules as `tfdistil.tokenizer.encode` (a test checks the ids match on real
sentences), length-bucketed and padded per batch.

Augmented rows have no label (-1): they contribute only the soft (teacher)
term of the distillation loss. The run folder has the same files as
`train.fit`'s, so `tfdistil evaluate`, `predict` and `convert` work on it.
"""
import json
import os
import resource

import numpy as np

from tfdistil.data.splits import has_split, load_split
from tfdistil.data.vocab import Vocab, read_wordpieces
from tfdistil.files import atomic_save, check_free_space, atomic_write_json, check_output_folder, open_partial
from tfdistil.errors import UserError
from tfdistil.students.teacher_embeddings import check_teacher_dir, init_student_embeddings
from tfdistil.training.fit import _accuracy, _keras, publish_run

# Leading quotes, the word, trailing punctuation: tokenizer.peel as one RE2 pattern. The lazy
# core keeps at least one character, so a lone `"` or `.` stays whole, as in peel().
PEEL = r'^("*)(.+?)([.,!?;:"]*)$'
BUCKETS = (8, 16, 24, 32, 48, 64)


def make_tokenizer(vocab):
    """tf function: string tensor [B] -> ragged int32 ids [B, None], as `vocab.encode(pad=False)`.

    Rules of tokenizer.py: ASCII-lowercase, split on ASCII whitespace, look the
    word up; if unknown, peel leading `"` and trailing `.,!?;:"` into separate
    tokens and look each piece up (unknown -> 1); cut to max_len.
    """
    import tensorflow as tf
    if vocab.hash_buckets or vocab.subwords:  # no TF ops for FNV-1a or wordpieces: the Python tokenizer itself
        import numpy as np

        def encode_block(texts):
            ids = [vocab.encode(t.decode("utf-8"), pad=False) for t in texts]
            return (np.fromiter((i for row in ids for i in row), np.int32),
                    np.array([len(row) for row in ids], np.int64))

        def tokenize_hashed(texts):
            flat, lengths = tf.numpy_function(encode_block, [texts], [tf.int32, tf.int64], stateful=False)
            return tf.RaggedTensor.from_row_lengths(tf.ensure_shape(flat, [None]), tf.ensure_shape(lengths, [None]))
        return tokenize_hashed
    keys = list(vocab.stoi)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.string),
                                            tf.constant([vocab.stoi[k] for k in keys], tf.int32)),
        default_value=-1)

    def tokenize(texts):
        t = tf.strings.lower(texts)  # no encoding: ASCII letters only, other bytes untouched
        t = tf.strings.regex_replace(t, "[\t\n\r\f\v]", " ")
        words = tf.strings.split(t, sep=" ")
        words = tf.ragged.boolean_mask(words, tf.strings.length(words) > 0)
        flat = words.flat_values
        known = table.lookup(flat) >= 0
        head, core, tail = (tf.strings.regex_replace(flat, PEEL, g) for g in (r"\1", r"\2", r"\3"))
        head = tf.where(known, "", head)
        core = tf.where(known, flat, core)
        tail = tf.where(known, "", tail)
        pieces = tf.concat([tf.strings.bytes_split(head), tf.RaggedTensor.from_tensor(core[:, None]),
                            tf.strings.bytes_split(tail)], axis=1)
        ids = table.lookup(pieces.flat_values)
        ids = pieces.with_flat_values(tf.where(ids < 0, 1, ids))  # [words, pieces]
        ids = tf.RaggedTensor.from_row_splits(ids, words.row_splits).merge_dims(1, 2)  # [B, tokens]
        return ids[:, :vocab.max_len]

    return tokenize


def reverse_index(token_ids):
    """students.reverse_index in TensorFlow, so the pipeline can build the BiLSTMs' second input."""
    import tensorflow as tf
    n = tf.reduce_sum(tf.cast(tf.not_equal(token_ids, 0), tf.int32), axis=1, keepdims=True)
    t = tf.range(tf.shape(token_ids)[1])[None, :]
    return tf.where(t < n, n - 1 - t, t)


def stream_dataset(shards_dir, vocab, student, batch_size=32, shuffle_buffer=10_000, seed=0, cycle_length=4,
                   repeat=False):
    """((inputs, {"label", "teacher_logits"}) batches, manifest): bucketed by length, padded per batch."""
    import tensorflow as tf
    from tfdistil.search.shards import read_shards
    ds, manifest = read_shards(shards_dir, shuffle_buffer, seed, cycle_length)
    tokenize = make_tokenizer(vocab)

    def encode(rows):  # tokenizing a block of rows at once: vectorised string ops
        ids = tokenize(rows["sentence"])
        return {"ids": ids.to_tensor(), "length": ids.row_lengths(), "label": tf.cast(rows["label"], tf.int32),
                "teacher_logits": rows["teacher_logits"]}

    def trim(row):  # back to one unpadded row (padded_batch needs dense rows, not ragged ones)
        return {"ids": row["ids"][:row["length"]], "label": row["label"], "teacher_logits": row["teacher_logits"]}

    ds = ds.batch(512).map(encode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch()
    ds = ds.map(trim, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.bucket_by_sequence_length(lambda r: tf.shape(r["ids"])[0], list(BUCKETS),
                                      [batch_size] * (len(BUCKETS) + 1))

    def to_model(rows):
        ids = rows["ids"]
        ids = tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]])  # at least one time step
        x = (ids,) if student == "cnn" else (ids, reverse_index(ids))
        return x, {"label": rows["label"], "teacher_logits": rows["teacher_logits"]}

    ds = ds.map(to_model, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if repeat:
        ds = ds.repeat()
    return ds.prefetch(tf.data.AUTOTUNE), manifest


def masked_distillation_loss(labels, teacher_logits, student_logits, alpha=0.5, kind="mse", temperature=1.0):
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
    soft = distillation_loss(safe, teacher_logits, student_logits, alpha=0.0, kind=kind, temperature=temperature)
    return alpha * ce + (1.0 - alpha) * soft


def _stream_distiller():
    from tfdistil.training.distill import Distiller

    class StreamDistiller(Distiller):
        """Distiller whose loss skips the label term on unlabelled (-1) rows."""

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return masked_distillation_loss(y["label"], y["teacher_logits"], y_pred,
                                            self.alpha, self.kind, self.temperature)

    return StreamDistiller


def peak_rss_mb():
    """This process's peak resident memory (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def fit_stream(cfg, shards_dir, data, out, log=print, steps_per_epoch=None, shuffle_buffer=10_000, cycle_length=4,
               callbacks=(), overwrite=False, restart=False):
    """Distil `cfg.student` from the shards in `shards_dir`; keep the best dev epoch; return metrics.json.

    The vocabulary comes from the SST-2 train split of `data` (as in train.fit),
    dev accuracy picks the epoch. `steps_per_epoch` caps an epoch (the
    transfer set then repeats), e.g. to measure memory on a huge set;
    `callbacks` are extra Keras callbacks (experiments/ablations/stream_memory.py samples RSS).
    """
    from tfdistil.search.shards import shard_files
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
                        cfg.hash_buckets, wordpieces)
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
    model = _stream_distiller()(student, alpha=cfg.alpha, kind=cfg.distill_loss, temperature=cfg.temperature)

    def epoch_data(epoch):  # shuffled from (seed, epoch): a resumed run replays the same order
        ds, _ = stream_dataset(shards_dir, vocab, cfg.student, cfg.batch_size, shuffle_buffer,
                               cfg.seed * 100_003 + epoch, cycle_length, repeat=bool(steps_per_epoch))
        return ds, steps_per_epoch

    fingerprint = json.loads(json.dumps({**cfg.to_dict(), "vocab_size": None, "train_sha256": train.sha256,
                                         "shards": manifest.get("rows"), "steps_per_epoch": steps_per_epoch}))
    history, best, train_seconds = train_epochs(model, student, cfg, epoch_data, dev_ids, dev.labels, partial,
                                                fingerprint, log=log, callbacks=callbacks,
                                                row=lambda e: {"peak_rss_mb": peak_rss_mb()})
    atomic_save(os.path.join(partial, "model.weights.h5"), student.save_weights)
    vocab.save(os.path.join(partial, "vocab.json"))
    atomic_write_json(os.path.join(partial, "config.json"), cfg.to_dict())
    atomic_write_json(os.path.join(partial, "history.json"), history)
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
