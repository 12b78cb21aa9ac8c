"""The `lm-pretrain` lever of levers.py: the student reads before it is taught.

ULMFiT's lesson for small labelled sets: a recurrent network that first learns to predict the next
word of in-domain text generalises from a few thousand labels far better than one that starts cold.
Here the BiLSTM-Attn student's own layers (embedding, `lstm_fwd`, `lstm_bwd`) are trained as two
language models before distillation: the forward LSTM predicts each next wordpiece, the backward one
(which reads the real tokens reversed, as the student does) each previous one, through a small
projection onto the embedding table (tied output weights, so nothing large is added and nothing but
the student's layers survives). The text is the transfer set's (train, augmented and unlabelled
fortunes, never dev or selection) — the texts the teacher labelled, now used for their words.
Distillation then starts from these weights (after the teacher-started embeddings, which the LM
training moves on from); dev still picks the epoch and the selection split scores it.

One pretraining per --distil folder and seed, cached in OUT/lm-s{seed}.npz.
"""
import os

import numpy as np

EPOCHS = 3
BATCH = 64
LR = 2e-3


def _texts(shards):
    from tfdistil.transfer.shards import read_shards
    ds, _ = read_shards(shards, shuffle_buffer=0)
    return list(dict.fromkeys(r["sentence"].decode("utf-8") for r in ds.as_numpy_iterator()))


def pretrain(student, vocab, texts, seed, log, epochs=EPOCHS):
    """Train the student's embedding and both LSTMs as next/previous-wordpiece models, in place.
    Returns the mean masked cross-entropy of each epoch."""
    import keras
    import tensorflow as tf
    from tfdistil.students.builders import reverse_index
    emb_layer, fwd, bwd = (student.get_layer(n) for n in ("embedding", "lstm_fwd", "lstm_bwd"))
    dim, k = emb_layer.get_weights()[0].shape[1], len(vocab)
    keras.utils.set_random_seed(seed)
    heads = [keras.layers.Dense(dim, name=f"lm_proj_{d}") for d in ("fwd", "bwd")]
    bias = [tf.Variable(tf.zeros([k]), name=f"lm_bias_{d}") for d in ("fwd", "bwd")]
    ids = vocab.encode_batch(texts)
    ids = ids[(ids != 0).sum(1) >= 2]  # a one-piece text has no next piece
    opt = keras.optimizers.Adam(LR)

    def loss_of(x, rev):
        table = emb_layer.embeddings
        total, count = 0.0, 0.0
        for d, (layer, seq) in enumerate(((fwd, x), (bwd, tf.gather(x, rev, batch_dims=1)))):
            h = layer(emb_layer(seq))  # [B, T, hidden]
            logits = tf.matmul(heads[d](h[:, :-1]), table, transpose_b=True) + bias[d]
            target = seq[:, 1:]
            mask = tf.cast(target != 0, tf.float32)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=logits)
            total += tf.reduce_sum(ce * mask)
            count += tf.reduce_sum(mask)
        return total / count

    variables = None

    @tf.function(reduce_retracing=True)
    def step(x, rev):
        with tf.GradientTape() as tape:
            loss = loss_of(x, rev)
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables))
        return loss

    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(epochs):
        order = rng.permutation(len(ids))
        losses = []
        for i in range(0, len(order), BATCH):
            batch = ids[order[i:i + BATCH]]
            width = int(-(-max(2, (batch != 0).sum(1).max()) // 16) * 16)  # padded to 16s: few traces
            x = batch[:, :width]
            if variables is None:  # the heads are built by their first call
                loss_of(tf.constant(x), tf.constant(reverse_index(x)))
                variables = (emb_layer.trainable_variables + fwd.trainable_variables + bwd.trainable_variables
                             + [v for h in heads for v in h.trainable_variables] + bias)
            losses.append(float(step(tf.constant(x), tf.constant(reverse_index(x)))))
        history.append(float(np.mean(losses)))
        log(f"lm-pretrain: epoch {epoch + 1}/{epochs}: next-piece cross-entropy {history[-1]:.3f} "
            f"({len(ids):,} texts, {k:,} pieces)")
    rows = emb_layer.get_weights()[0]
    rows[0] = 0.0  # padding stays zero, as the student expects
    emb_layer.set_weights([rows])
    return history


def use_lm_pretraining(shards, out, seed, log):
    """fit_stream's student starts from the pretrained embedding and LSTMs (a patch for this lever only).
    Returns the undo."""
    import tfdistil.training.stream as stream
    original = stream.init_student_embeddings
    cache = os.path.join(out, f"lm-s{seed}.npz")
    names = ("embedding", "lstm_fwd", "lstm_bwd")

    def init(student, vocab, teacher_dir, log=log):
        original(student, vocab, teacher_dir, log)
        layers = [student.get_layer(n) for n in names]
        if os.path.isfile(cache):
            with np.load(cache) as z:
                for n, layer in zip(names, layers):
                    layer.set_weights([z[f"{n}_{i}"] for i in range(len(layer.get_weights()))])
            log(f"lm-pretrain: weights from {cache}")
            return
        history = pretrain(student, vocab, _texts(shards), seed, log)
        arrays = {f"{n}_{i}": w for n, layer in zip(names, layers) for i, w in enumerate(layer.get_weights())}
        np.savez(cache + ".tmp.npz", history=np.array(history), **arrays)
        os.replace(cache + ".tmp.npz", cache)

    stream.init_student_embeddings = init
    return lambda: setattr(stream, "init_student_embeddings", original)
