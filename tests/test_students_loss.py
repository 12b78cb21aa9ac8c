import numpy as np
import pytest

from tfdistil.config import Config
from tfdistil.students.builders import build_student, model_inputs, reverse_index


def test_reverse_index():
    ids = np.array([[5, 6, 7, 0, 0], [9, 0, 0, 0, 0], [0, 0, 0, 0, 0]])
    assert reverse_index(ids).tolist() == [[2, 1, 0, 3, 4], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]


@pytest.mark.parametrize("student,pre_conv", [("cnn", 0), ("bilstm", 0), ("bilstm_attn", 0), ("bilstm", 3),
                                              ("bilstm_attn", 3)])
def test_padding_changes_nothing(student, pre_conv):
    cfg = Config(student=student, vocab_size=50, embed_dim=8, hidden=8, filters=8, pre_conv=pre_conv)
    model = build_student(cfg)
    rng = np.random.default_rng(0)
    ids = np.zeros((3, 6), np.int32)
    for r, n in enumerate([6, 3, 1]):
        ids[r, :n] = rng.integers(2, 50, n)
    short = model(model_inputs(student, ids)).numpy()
    long = model(model_inputs(student, np.pad(ids, ((0, 0), (0, 40))))).numpy()
    np.testing.assert_allclose(short, long, atol=1e-5)
    # ...and a different sentence does change the output (the check above can fail).
    other = ids.copy()
    other[1, 0] = (other[1, 0] + 7) % 48 + 2
    assert np.abs(model(model_inputs(student, other)).numpy()[1] - short[1]).max() > 1e-6


def test_parameter_counts_follow_the_architecture():
    V, E, H = 1000, 64, 64
    cnn = build_student(Config(student="cnn", vocab_size=V))
    conv = sum(k * E * 64 + 64 for k in (3, 4, 5))
    assert cnn.count_params() == V * E + conv + (192 * H + H) + (H * 2 + 2)
    lstm = 4 * (E * H + H * H + H)
    bilstm = build_student(Config(student="bilstm", vocab_size=V))
    assert bilstm.count_params() == V * E + 2 * lstm + (2 * H * H + H) + (H * 2 + 2)
    attn = build_student(Config(student="bilstm_attn", vocab_size=V))
    assert attn.count_params() == bilstm.count_params() + (2 * H) ** 2 + 2 * H + 2 * H
    narrow = build_student(Config(student="bilstm_attn", vocab_size=V, attention_dim=16))  # --attention-dim 16
    assert narrow.count_params() == bilstm.count_params() + 2 * H * 16 + 16 + 16
    from tfdistil.search.space import count_params
    assert count_params(Config(student="bilstm_attn", vocab_size=V, attention_dim=16)) == narrow.count_params()
    for k in (2, 3):  # --pre-conv K: a K-wide convolution, embed_dim filters, before the LSTMs
        cfg = Config(student="bilstm_attn", vocab_size=V, attention_dim=16, pre_conv=k)
        assert build_student(cfg).count_params() == narrow.count_params() + k * E * E + E == count_params(cfg)


def test_pre_conv_is_for_the_lstm_students():
    from tfdistil.errors import UserError
    with pytest.raises(UserError, match="pre_conv .* is for bilstm / bilstm_attn; got 3 for cnn"):
        Config(student="cnn", pre_conv=3)
    with pytest.raises(UserError, match="must be 0 \\(off\\) or positive"):
        Config(student="bilstm", pre_conv=-1)


def test_attention_ignores_padding_weights():
    """Eq. (2): attention weights on padding are exactly zero, on real tokens they sum to 1."""
    import tensorflow as tf
    from tfdistil.students.builders import _layers
    import keras
    att = _layers(keras)["SelfAttention"]()
    h = tf.random.normal((2, 5, 4))
    mask = tf.constant([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], tf.float32)
    out = att(h, mask).numpy()
    # Same result when the padded positions hold anything else.
    h2 = tf.concat([h[:, :2], 100 * tf.ones((2, 3, 4))], axis=1)
    out2 = att(h2, mask).numpy()
    np.testing.assert_allclose(out[0], out2[0], atol=1e-5)
    assert np.abs(out[1] - out2[1]).max() > 1e-3


def test_distillation_loss_by_hand():
    from tfdistil.training.distill import distillation_loss
    labels = np.array([1, 0], np.int32)
    student = np.array([[0.5, 1.5], [2.0, -1.0]], np.float32)
    teacher = np.array([[-1.0, 2.0], [1.0, 0.0]], np.float32)
    # CE: -log softmax(s)[y]: row0 = log(1+e^-1), row1 = log(1+e^-3)
    ce = (np.log(1 + np.exp(-1.0)) + np.log(1 + np.exp(-3.0))) / 2
    mse = ((1.5 ** 2 + 0.5 ** 2) + (1.0 ** 2 + 1.0 ** 2)) / 4
    got = float(distillation_loss(labels, teacher, student, alpha=0.3))
    assert got == pytest.approx(0.3 * ce + 0.7 * mse, rel=1e-5)
    assert float(distillation_loss(labels, None, student)) == pytest.approx(ce, rel=1e-5)
    kl = float(distillation_loss(labels, teacher, teacher, alpha=0.0, kind="kl", temperature=2.0))
    assert kl == pytest.approx(0.0, abs=1e-6)


def test_disagreement_weighted_soft_term_by_hand():
    """disagree=2: row weights 1 + 2 x TV(p_teacher, p_student), normalised to mean 1; 0 is the plain loss."""
    from tfdistil.training.distill import distillation_loss
    labels = np.array([1, 0], np.int32)
    student = np.array([[0.5, 1.5], [2.0, -1.0]], np.float32)
    teacher = np.array([[-1.0, 2.0], [-1.0, 2.0]], np.float32)  # row 1: teacher and student disagree
    softmax = lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True)  # noqa: E731
    tv = 0.5 * np.abs(softmax(teacher) - softmax(student)).sum(-1)
    w = 1 + 2 * tv
    w = w / w.mean()
    rows = ((teacher - student) ** 2).mean(-1)
    ce = float(distillation_loss(labels, None, student))
    got = float(distillation_loss(labels, teacher, student, alpha=0.3, disagree=2.0))
    assert got == pytest.approx(0.3 * ce + 0.7 * (rows * w).mean(), rel=1e-5)
    assert w[1] > 1.4 * w[0]  # the disagreeing row counts for more
    plain = float(distillation_loss(labels, teacher, student, alpha=0.3))
    assert plain == pytest.approx(0.3 * ce + 0.7 * rows.mean(), rel=1e-5) and got != pytest.approx(plain)
    # the weights carry no gradient: d(loss)/d(student) equals the fixed-weight MSE's
    import tensorflow as tf
    s = tf.Variable(student)
    with tf.GradientTape() as tape:
        loss = distillation_loss(labels, teacher, s, alpha=0.0, disagree=2.0)
    grad = tape.gradient(loss, s).numpy()
    expected = -2 * (teacher - student) / 2 * w[:, None] / 2  # d/ds mean_rows(w * mean_cols((t-s)^2))
    np.testing.assert_allclose(grad, expected, rtol=1e-4)


def test_disagree_weight_is_checked_and_reaches_the_trainer():
    from tfdistil.config import Config
    from tfdistil.errors import UserError
    with pytest.raises(UserError, match="disagree_weight"):
        Config(disagree_weight=-1)
    from tfdistil.search.tuner import student_model
    model = student_model(Config(student="cnn", vocab_size=50, distill=True, disagree_weight=1.5))
    assert model.disagree == 1.5
