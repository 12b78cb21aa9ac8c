"""Timer ticks from the board -> instructions (see edge/mcu/src/qemu_board.h): per sentence and step,
and, for a build with -DTFDISTIL_PROFILE_OPS, per op type."""
import numpy as np


def instruction_counts(board_out):
    """Ticks -> instructions: ticks per instruction from the two calibration loops (their
    difference is an exact number of instructions), minus the median empty interval."""
    (n1, t1), (n2, t2) = board_out["calibration"]
    per_instruction = (t2 - t1) / (n2 - n1)
    baseline = float(np.median(board_out["baseline"]))
    ticks = np.array([s["ticks"] for s in board_out["sentences"]], dtype=np.float64)
    counts = np.rint((ticks - baseline) / per_instruction).astype(np.int64)
    return counts, {"ticks_per_instruction": round(per_instruction, 6), "baseline_ticks": baseline}


def _stats(values):
    v = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(v.mean()), 1), "p50": float(np.percentile(v, 50)),
            "p95": float(np.percentile(v, 95)), "max": float(v.max()), "min": float(v.min())}


def op_instructions(board_out, n):
    """{op name: {"instructions_per_sentence", "calls_per_sentence", "share"}} of a profiled
    build, largest first: each op's ticks minus one empty interval per call, in instructions."""
    (n1, t1), (n2, t2) = board_out["calibration"]
    per_instruction = (t2 - t1) / (n2 - n1)
    baseline = float(np.median(board_out["baseline"]))
    ops = {name: max(ticks - calls * baseline, 0) / per_instruction / n for name, ticks, calls in board_out["ops"]}
    calls = {name: c / n for name, _, c in board_out["ops"]}
    total = sum(ops.values()) or 1.0
    return {name: {"instructions_per_sentence": round(v, 1), "calls_per_sentence": round(calls[name], 2),
                   "share": round(v / total, 4)} for name, v in sorted(ops.items(), key=lambda kv: -kv[1])}
