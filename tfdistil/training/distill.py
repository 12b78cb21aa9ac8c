"""Distillation loss and the Keras model that trains a student with it.

loss = alpha * CE(labels, student) + (1 - alpha) * MSE(teacher_logits, student)

as in the paper (§3.5); `kl` swaps the MSE for Hinton's temperature-scaled KL.
Teacher logits come from the cache on disk as part of `y`, so the teacher is
never loaded in the student's process (unlike `keras.distillation.Distiller`,
which calls a live teacher model every step).
"""
import keras
from keras import ops


def disagreement_weights(teacher_logits, student_logits, strength):
    """Per-row weights 1 + strength x TV(p_teacher, p_student), renormalised to mean 1 over the batch
    (the loss keeps its scale, so alpha and the learning rate mean what they meant). TV, the total
    variation of the two softmaxes, is 0 where they agree and 1 where they are certain and opposite.
    No gradient flows through the weights: they say where to learn, not what."""
    tv = 0.5 * ops.sum(ops.abs(ops.softmax(teacher_logits, axis=-1) - ops.softmax(student_logits, axis=-1)), axis=-1)
    w = ops.stop_gradient(1.0 + strength * tv)
    return w / ops.mean(w)


def distillation_loss(labels, teacher_logits, student_logits, alpha=0.5, kind="mse", temperature=1.0, disagree=0.0):
    """Scalar loss for a batch. `labels` int [B]; logits float [B, C]. `disagree` > 0 weights each
    row's soft term by `disagreement_weights` (0: the paper's plain mean)."""
    ce = ops.mean(keras.losses.sparse_categorical_crossentropy(labels, student_logits, from_logits=True))
    if teacher_logits is None or alpha == 1.0:
        return ce
    if kind == "mse":
        soft_rows = ops.mean(ops.square(teacher_logits - student_logits), axis=-1)
    else:
        t = temperature
        p_teacher = ops.softmax(teacher_logits / t, axis=-1)
        log_p_student = ops.log_softmax(student_logits / t, axis=-1)
        log_p_teacher = ops.log_softmax(teacher_logits / t, axis=-1)
        soft_rows = ops.sum(p_teacher * (log_p_teacher - log_p_student), axis=-1) * t * t
    if disagree:
        soft_rows = soft_rows * disagreement_weights(teacher_logits, student_logits, disagree)
    return alpha * ce + (1.0 - alpha) * ops.mean(soft_rows)


class Distiller(keras.Model):
    """Wraps a student; only the loss differs from plain training.

    `y` is a dict: {"label": int [B]} for the baseline, plus "teacher_logits"
    float [B, 2] when distilling.
    """

    def __init__(self, student, alpha=0.5, kind="mse", temperature=1.0, disagree=0.0, **kw):
        super().__init__(**kw)
        self.student = student
        self.alpha, self.kind, self.temperature, self.disagree = alpha, kind, temperature, disagree

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return distillation_loss(y["label"], y.get("teacher_logits"), y_pred,
                                 self.alpha, self.kind, self.temperature, self.disagree)
