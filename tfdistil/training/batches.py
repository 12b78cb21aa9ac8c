"""Length-bucketed, per-batch padded batches.

Most SST-2 training rows are short phrases (mean 9.4 words, max 52), so padding
each batch only to its own longest row, and grouping rows of similar length,
cuts the LSTM's time steps several-fold versus padding everything to 128.
Padding never changes a student's output (see students/builders.py), so this is exact.
"""

import numpy as np

from tfdistil.students.builders import model_inputs


def bucket_order(lengths, batch_size, rng=None, pool=50):
    """Batches of row indices: shuffle, sort within pools of `pool` batches by length, shuffle batches."""
    idx = np.arange(len(lengths)) if rng is None else rng.permutation(len(lengths))
    size = batch_size * pool
    batches = []
    for start in range(0, len(idx), size):
        chunk = idx[start:start + size]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


def drop_words(token_ids, rate, rng, unk_id=1):
    """Replace each real token by <unk> with probability `rate` (padding stays 0)."""
    drop = (token_ids > unk_id) & (rng.random(token_ids.shape) < rate)
    return np.where(drop, unk_id, token_ids).astype(token_ids.dtype)


def padded(token_ids, lengths, rows):
    width = max(1, int(lengths[rows].max()))
    return token_ids[rows, :width]


class StudentBatches:
    """Training batches: (inputs, {"label", "teacher_logits"?}), reshuffled every epoch from `seed`.

    Served through `tf.data.Dataset.from_generator` with an explicit signature whose
    time axis is None: a Keras PyDataset infers its signature from the first batches,
    and when those happen to share a width, every later batch of another width fails.
    """

    def __init__(self, student, token_ids, labels, teacher_logits=None, batch_size=32, seed=0, word_dropout=0.0):
        self.student, self.token_ids, self.labels = student, token_ids, labels
        self.teacher_logits, self.word_dropout = teacher_logits, word_dropout
        self.lengths = (token_ids != 0).sum(1)
        self.batch_size, self.seed, self.epoch = batch_size, seed, 0

    def __len__(self):
        return -(-len(self.token_ids) // self.batch_size)

    def batches(self, epoch):
        rng = np.random.default_rng([self.seed, epoch])
        for rows in bucket_order(self.lengths, self.batch_size, rng):
            ids = padded(self.token_ids, self.lengths, rows)
            if self.word_dropout:
                ids = drop_words(ids, self.word_dropout, rng)
            x = model_inputs(self.student, ids)
            y = {"label": self.labels[rows]}
            if self.teacher_logits is not None:
                y["teacher_logits"] = self.teacher_logits[rows]
            yield tuple(x), y

    def _next_epoch(self):
        epoch, self.epoch = self.epoch, self.epoch + 1
        yield from self.batches(epoch)

    def dataset(self):
        """A tf.data.Dataset; each pass over it is the next epoch's order."""
        import tensorflow as tf
        ids = tf.TensorSpec((None, None), tf.int32)
        x_spec = (ids,) if self.student == "cnn" else (ids, ids)
        y_spec = {"label": tf.TensorSpec((None,), tf.int32)}
        if self.teacher_logits is not None:
            y_spec["teacher_logits"] = tf.TensorSpec((None, self.teacher_logits.shape[1]), tf.float32)
        ds = tf.data.Dataset.from_generator(self._next_epoch, output_signature=(x_spec, y_spec))
        # bucket_order makes exactly len(self) batches; saying so gives Keras an epoch length
        # (a real progress bar, no "ran out of data" warning after the first epoch).
        return ds.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(4)


def predict_logits(model, student, token_ids, batch_size=256):
    """float32 [rows, classes] student logits, in row order, with bucketed padding."""
    lengths = (token_ids != 0).sum(1)
    out = np.zeros((len(token_ids), int(model.outputs[0].shape[-1])), np.float32)
    for rows in bucket_order(lengths, batch_size):
        out[rows] = np.asarray(model(model_inputs(student, padded(token_ids, lengths, rows)), training=False))
    return out
