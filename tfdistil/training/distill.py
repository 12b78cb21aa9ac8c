"""Distillation loss and the Keras model that trains a student with it.

loss = alpha * CE(labels, student) + (1 - alpha) * MSE(teacher_logits, student)

as in the paper (§3.5); `kl` swaps the MSE for Hinton's temperature-scaled KL.
Teacher logits come from the cache on disk as part of `y`, so the teacher is
never loaded in the student's process (unlike `keras.distillation.Distiller`,
which calls a live teacher model every step).
"""
import keras
from keras import ops


def distillation_loss(labels, teacher_logits, student_logits, alpha=0.5, kind="mse", temperature=1.0):
    """Scalar loss for a batch. `labels` int [B]; logits float [B, 2]."""
    ce = ops.mean(keras.losses.sparse_categorical_crossentropy(labels, student_logits, from_logits=True))
    if teacher_logits is None or alpha == 1.0:
        return ce
    if kind == "mse":
        soft = ops.mean(ops.square(teacher_logits - student_logits))
    else:
        t = temperature
        p_teacher = ops.softmax(teacher_logits / t, axis=-1)
        log_p_student = ops.log_softmax(student_logits / t, axis=-1)
        log_p_teacher = ops.log_softmax(teacher_logits / t, axis=-1)
        soft = ops.mean(ops.sum(p_teacher * (log_p_teacher - log_p_student), axis=-1)) * t * t
    return alpha * ce + (1.0 - alpha) * soft


class Distiller(keras.Model):
    """Wraps a student; only the loss differs from plain training.

    `y` is a dict: {"label": int [B]} for the baseline, plus "teacher_logits"
    float [B, 2] when distilling.
    """

    def __init__(self, student, alpha=0.5, kind="mse", temperature=1.0, **kw):
        super().__init__(**kw)
        self.student = student
        self.alpha, self.kind, self.temperature = alpha, kind, temperature

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return distillation_loss(y["label"], y.get("teacher_logits"), y_pred,
                                 self.alpha, self.kind, self.temperature)
