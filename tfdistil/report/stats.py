"""Statistics over seeds and the number formats of the report (a missing value renders as "–")."""
import os
import numpy as np
from tfdistil.report.paper import DASH


def mean_std(values):
    """(mean, sample std or None, n) over the values that exist."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None, None, 0
    std = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
    return float(np.mean(vals)), std, len(vals)


def pct(x, digits=2):
    return DASH if x is None else f"{100 * x:.{digits}f}"


def pct_ms(mean, std):
    """'82.43 ± 0.31' over seeds; just the mean for a single seed (no spread to show)."""
    if mean is None:
        return DASH
    return pct(mean) if std is None else f"{pct(mean)} ± {pct(std)}"


def nbytes(b):
    return DASH if b is None else f"{int(b):,}"


def kib(b):
    return DASH if b is None else f"{b / 1024:,.0f} KiB"


def millions(p):
    return DASH if p is None else f"{p / 1e6:.2f}M"


def ratio(a, b):
    return DASH if not a or not b else f"×{a / b:,.0f}" if a / b >= 10 else f"×{a / b:.1f}"


def ms(x):
    """Milliseconds with about three significant digits (int8 CNNs take microseconds)."""
    return DASH if x is None else f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def _value(runs, getter):
    """getter over runs, skipping runs where a file is missing."""
    out = []
    for r in runs:
        try:
            out.append(getter(r))
        except (KeyError, TypeError):
            out.append(None)
    return out


def same_or_range(values, fmt):
    vals = sorted({v for v in values if v is not None})
    if not vals:
        return DASH
    return fmt(vals[0]) if len(vals) == 1 else f"{fmt(vals[0])}–{fmt(vals[-1])}"


def int8_accuracy(run):
    """Test accuracy of the int8 flatbuffer: LiteRT first (the interpreter `tflite/classify.py`
    runs on a Pi, so anyone can re-measure it), else TFLM. The TFLM figure has its own field;
    the two can differ by a few sentences because their int8 kernels round differently."""
    for rt in ("litert", "tflm"):
        if run.get(f"eval_{rt}"):
            return run[f"eval_{rt}"]["accuracy"], rt
    return None, None


# --------------------------------------------------------------------------- benchmark lookups
def bench_latency(bench, student, fmt, stat="latency_ms_p50"):
    """Median over the benchmarked runs of one student of one format's latency (ms)."""
    if not bench:
        return None
    vals = [m.get(stat) for m in bench.get("models", [])
            if m.get("student") == student and m.get("format") == fmt and m.get("status") == "ok"]
    vals = [v for v in vals if v is not None]
    return float(np.median(vals)) if vals else None


def teacher_latency(bench, stat="latency_ms_p50"):
    t = (bench or {}).get("teacher") or {}
    return t.get(stat) if t.get("status") == "ok" else None

def _rel(path, root):
    """`path` relative to `root`, or as absolute when it lies outside root."""
    rel = os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")
    return os.path.abspath(path) if rel.startswith("..") else rel



def shown(path):
    """A path as a reader of REPORT.md can find it: relative to the working folder when inside it."""
    return _rel(path, os.getcwd()) if path else path
