"""The three students of the paper, built by plain functions.

Every builder takes the Keras module to build with: Keras 3 (`keras`) for
training and Keras Tuner, Keras 2 (`tf_keras`) with batch size 1 and a fixed
length for TFLite export, because only tf_keras LSTMs lower to the fused
`UNIDIRECTIONAL_SEQUENCE_LSTM` kernel that TFLite Micro runs. Layer names and
weight orders are identical in both, so export copies weights layer by layer.

Padding never changes an output, at any padded length (a test checks this):
- inputs are right-padded with id 0 and no Keras masking is used (masks do not
  survive TFLite conversion);
- the backward LSTM reads `reverse_index`-gathered embeddings, i.e. the real
  tokens in reverse order followed by the padding, so it never sees padding
  before a real token; `reverse_index[t] = n-1-t` for t < n, else t, and is
  its own inverse. The host computes it (two lines in C) because TFLM has no
  int32 reductions to compute lengths in-graph;
- with --pre-conv, the embeddings are zeroed on padding before the convolution, so a
  real position's window reads zeros past the sentence's end at any padded length;
- the BiLSTM's sentence vector is both directions' state after the last real
  token (`reverse_index[0] = n-1`), the attention softmax and the CNN's max
  pooling are masked.
"""
import functools

import numpy as np

from tfdistil.config import Config


def reverse_index(token_ids):
    """int32 [N, T]: per row, the first n positions reversed, padding left in place."""
    token_ids = np.asarray(token_ids)
    n = (token_ids != 0).sum(axis=1, keepdims=True)
    t = np.arange(token_ids.shape[1])[None, :]
    return np.where(t < n, n - 1 - t, t).astype(np.int32)


def model_inputs(student, token_ids):
    """The list of arrays a student model takes, in input order."""
    token_ids = np.asarray(token_ids, np.int32)
    return [token_ids] if student == "cnn" else [token_ids, reverse_index(token_ids)]


@functools.lru_cache(maxsize=None)
def _layers(K):
    """Custom layers for one Keras module (Keras 3 or tf_keras)."""
    import tensorflow as tf

    class TokenMask(K.layers.Layer):
        """1.0 on real tokens, 0.0 on padding (id 0)."""

        def call(self, token_ids):
            return tf.cast(tf.not_equal(token_ids, 0), tf.float32)

    class TimeGather(K.layers.Layer):
        """x[:, index[:, t]] per row. With batch_one the graph uses a plain GATHER
        (TFLM cannot run batch_dims=1)."""

        def __init__(self, first_only=False, batch_one=False, **kw):
            super().__init__(**kw)
            self.first_only, self.batch_one = first_only, batch_one

        def call(self, x, index):
            if self.first_only:
                index = index[:, :1]
            if self.batch_one:
                out = tf.expand_dims(tf.gather(x[0], index[0]), 0)
            else:
                out = tf.gather(x, index, batch_dims=1)
            return out[:, 0] if self.first_only else out

    class MaskedMaxPool(K.layers.Layer):
        """Max over real positions of non-negative (ReLU) features: padded positions are zeroed."""

        def call(self, x, mask):
            return tf.reduce_max(x * tf.expand_dims(mask, -1), axis=1)

    class ZeroPadding(K.layers.Layer):
        """Zero the embedding of padding so a 'same' convolution sees zeros whatever the padded length."""

        def call(self, x, mask):
            return x * tf.expand_dims(mask, -1)

    class SelfAttention(K.layers.Layer):
        """The paper's eqs. (1)-(3): u = tanh(W h + b), alpha = softmax(u . u_w), s = sum alpha h.

        Padding is pushed 20 below its score before the softmax (a bounded shift keeps
        the int8 range of the scores tight) and its weight is then zeroed. There is no
        renormalisation by the remaining sum: it would lower to an int8 DIV, which
        tflite-runtime 2.14 cannot run, and the masked weights already sum to 1 within
        float32 rounding whenever a padded score does not exceed the best real score by
        ~10 (each padded position keeps at most e^-20 of the mass).
        """

        def __init__(self, units=0, **kw):
            super().__init__(**kw)
            self.units = units  # width of u; 0 = that of h (the paper's square W)

        def build(self, input_shape):
            d = int(input_shape[-1])
            a = self.units or d
            self.w = self.add_weight(name="w", shape=(d, a), initializer="glorot_uniform")
            self.b = self.add_weight(name="b", shape=(a,), initializer="zeros")
            self.context = self.add_weight(name="context", shape=(a, 1), initializer="glorot_uniform")
            super().build(input_shape)

        def call(self, h, mask):
            u = tf.tanh(tf.matmul(h, self.w) + self.b)               # (1)
            scores = tf.squeeze(tf.matmul(u, self.context), -1)      # u . u_w
            scores = scores + (mask - 1.0) * 20.0
            alpha = tf.nn.softmax(scores, axis=-1) * mask            # (2), masked
            return tf.reduce_sum(h * tf.expand_dims(alpha, -1), axis=1)  # (3)

    return dict(TokenMask=TokenMask, TimeGather=TimeGather, MaskedMaxPool=MaskedMaxPool,
                ZeroPadding=ZeroPadding, SelfAttention=SelfAttention)


def _inputs(K, student, batch_size, seq_len):
    ids = K.Input(shape=(seq_len,), batch_size=batch_size, dtype="int32", name="token_ids")
    if student == "cnn":
        return [ids]
    return [ids, K.Input(shape=(seq_len,), batch_size=batch_size, dtype="int32", name="reverse_index")]


def _head(K, cfg, features):
    x = K.layers.Dropout(cfg.dropout, name="dropout")(features)
    x = K.layers.Dense(cfg.hidden, activation="relu", name="dense")(x)
    return K.layers.Dense(cfg.num_classes, name="logits")(x)


def build_cnn(cfg, K, batch_size=None, seq_len=None):
    """Embedding -> Conv1D per kernel size (ReLU, 'same') -> masked max-pool -> concat -> dense -> 2 logits."""
    L = _layers(K)
    (ids,) = _inputs(K, "cnn", batch_size, seq_len)
    mask = L["TokenMask"](name="mask")(ids)
    emb = K.layers.Embedding(cfg.vocab_size, cfg.embed_dim, name="embedding")(ids)
    emb = L["ZeroPadding"](name="zero_padding")(emb, mask)
    pooled = []
    for k in cfg.kernel_sizes:
        c = K.layers.Conv1D(cfg.filters, k, padding="same", activation="relu", name=f"conv{k}")(emb)
        pooled.append(L["MaskedMaxPool"](name=f"maxpool{k}")(c, mask))
    feats = pooled[0] if len(pooled) == 1 else K.layers.Concatenate(name="concat")(pooled)
    return K.Model([ids], _head(K, cfg, feats), name="cnn")


def _bilstm_states(K, cfg, batch_size, seq_len, student):
    L = _layers(K)
    ids, rev = _inputs(K, student, batch_size, seq_len)
    one = batch_size == 1
    emb = K.layers.Embedding(cfg.vocab_size, cfg.embed_dim, name="embedding")(ids)
    if cfg.pre_conv:  # --pre-conv K: each step sees its K-word window; padding zeroed so it never leaks in
        emb = L["ZeroPadding"](name="pre_zero_padding")(emb, L["TokenMask"](name="pre_mask")(ids))
        emb = K.layers.Conv1D(cfg.embed_dim, cfg.pre_conv, padding="same", activation="relu", name="pre_conv")(emb)
    emb_rev = L["TimeGather"](batch_one=one, name="reverse_embedding")(emb, rev)
    fwd = K.layers.LSTM(cfg.hidden, return_sequences=True, name="lstm_fwd")(emb)
    bwd_rev = K.layers.LSTM(cfg.hidden, return_sequences=True, name="lstm_bwd")(emb_rev)
    return L, ids, rev, fwd, bwd_rev, one


def build_bilstm(cfg, K, batch_size=None, seq_len=None):
    """BiLSTM: both directions' state after the last real token, concatenated -> dense -> 2 logits."""
    L, ids, rev, fwd, bwd_rev, one = _bilstm_states(K, cfg, batch_size, seq_len, "bilstm")
    last_f = L["TimeGather"](first_only=True, batch_one=one, name="last_fwd")(fwd, rev)
    last_b = L["TimeGather"](first_only=True, batch_one=one, name="last_bwd")(bwd_rev, rev)
    feats = K.layers.Concatenate(name="concat")([last_f, last_b])
    return K.Model([ids, rev], _head(K, cfg, feats), name="bilstm")


def build_bilstm_attn(cfg, K, batch_size=None, seq_len=None):
    """BiLSTM with the paper's self-attention over the aligned [fwd; bwd] outputs."""
    L, ids, rev, fwd, bwd_rev, one = _bilstm_states(K, cfg, batch_size, seq_len, "bilstm_attn")
    bwd = L["TimeGather"](batch_one=one, name="align_bwd")(bwd_rev, rev)
    h = K.layers.Concatenate(name="concat")([fwd, bwd])
    mask = L["TokenMask"](name="mask")(ids)
    # A narrower u (--attention-dim) cuts the per-position work that dominates on a microcontroller.
    feats = L["SelfAttention"](units=cfg.attention_dim, name="attention")(h, mask)
    return K.Model([ids, rev], _head(K, cfg, feats), name="bilstm_attn")


student_builders = {"cnn": build_cnn, "bilstm": build_bilstm, "bilstm_attn": build_bilstm_attn}


def build_student(cfg: Config, K=None, batch_size=None, seq_len=None):
    """Build `cfg.student` with Keras 3 by default (training), or tf_keras for export."""
    if K is None:
        import keras as K
    return student_builders[cfg.student](cfg, K, batch_size=batch_size, seq_len=seq_len)
