"""The streamed transfer set: TFRecord shards as tf.data batches for a student, never all in memory.

Rows come from the shards of `shards.py` and are tokenized inside the tf.data
pipeline with the same rules as `tfdistil.data.tokenizer` (a test checks the ids
match on real sentences), length-bucketed and padded per batch.
`training/stream.py` trains on what `stream_dataset` yields.
"""
from tfdistil.transfer.shards import read_shards

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
