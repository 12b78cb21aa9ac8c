"""The decision at the boundary, and how many sentences sit next to it.

Rule (the same in tflite/classify.py, the library's evaluators, the C runner
`edge/mcu/src/main_linux.cc`, the measuring firmware `edge/mcu/src/main_qemu.cc` and
`firmware_notes/main_example.cc`): the label is the FIRST index of the largest float32 logit.
Equal logits - equal int8 outputs, p exactly 0.5 for two classes - go to the lowest class index,
as numpy's argmax does. For two classes this is `p(class 1) > 0.5`, never `>=`.

Why count the neighbours: an int8 model's logits are the int8 output tensor dequantized with one
scale, so a different runtime, ISA or kernel set that rounds one accumulator differently moves an
output by one int8 step. A sentence whose decision changes when any single output moves by one
step can flip on a Raspberry Pi's kernels while every other sentence cannot flip from one step.
"""
import numpy as np


def decide(logits):
    """Label per row of `logits` ([..., classes]): first index of the maximum (ties: lowest index)."""
    return np.asarray(logits).argmax(-1)


def one_step_from_other_decision(q):
    """Bool per row of int8 outputs `q` ([n, classes]): does moving any single output by +1 or -1
    (within int8) change `decide`? Ties (several maxima) always count: raising the loser wins."""
    q = np.asarray(q, dtype=np.int64)
    base = decide(q)
    near = np.zeros(len(q), dtype=bool)
    for k in range(q.shape[1]):
        for step in (-1, 1):
            moved = q.copy()
            moved[:, k] += step
            ok = (moved[:, k] >= -128) & (moved[:, k] <= 127)
            near |= ok & (decide(moved) != base)
    return near


def margin_steps(q):
    """int8 steps between the winning output and the best other one (0 = a tie)."""
    q = np.sort(np.asarray(q, dtype=np.int64), axis=-1)
    return q[:, -1] - q[:, -2]


def boundary_summary(q, gold=None):
    """Counts for one model's int8 outputs on a split: ties, sentences one step from another
    decision, and (with gold labels) how many of those the model currently gets right."""
    q = np.asarray(q)
    near = one_step_from_other_decision(q)
    margin = margin_steps(q)
    out = {"n": len(q), "ties": int((margin == 0).sum()), "within_one_step": int(near.sum()),
           "margin_steps_hist": {str(m): int((margin == m).sum()) for m in range(3)}}
    if gold is not None:
        right = decide(q) == np.asarray(gold)
        out["within_one_step_correct"] = int((near & right).sum())
        out["accuracy"] = round(float(right.mean()), 6)
        out["accuracy_range_if_each_moves_one_step"] = [round(float((right & ~near).mean()), 6),
                                                        round(float((right | near).mean()), 6)]
    return out
