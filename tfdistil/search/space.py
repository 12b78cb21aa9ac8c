"""The search space of `tfdistil tune` and the int8 size estimate that keeps over-budget students out of it.

Cheap to import (no Keras Tuner, no TensorFlow), so the CLI validates a space before anything loads.
"""
import itertools
from tfdistil.config import Config
from tfdistil.errors import UserError


KB = 1024  # --budget-kb counts KiB: MCU flash sizes are powers of two


OBJECTIVE = "dev_accuracy"


TUNERS = ("hyperband", "bayesian", "random")


# Lists are choices; dicts are float ranges. Sizes suit MCU flash (tens to hundreds of KB).
COMMON_SPACE = {
    "max_vocab": [1000, 2000, 4000, 8000, 16000],
    "embed_dim": [8, 16, 32, 64],
    "max_len": [32, 48, 64],
    "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    "lr": {"min": 3e-4, "max": 1e-2, "sampling": "log"},
}


FAMILY_SPACE = {
    "cnn": {"filters": [8, 16, 32, 64], "kernel_sizes": ["3", "3,5", "3,4,5"], "hidden": [16, 32, 64]},
    "bilstm": {"hidden": [8, 16, 32, 64]},
    "bilstm_attn": {"hidden": [8, 16, 32, 64]},
}


ALPHA_SPACE = {"alpha": {"min": 0.1, "max": 0.9, "step": 0.1}}


VALUE_BOUNDS = {"dropout": (0.0, 0.95), "alpha": (0.0, 1.0), "lr": (1e-6, 1.0)}  # what Config/Keras accept


SIZE_KEYS = ("max_vocab", "embed_dim", "hidden", "filters", "kernel_sizes")  # must be choices (enumerable)


INT_KEYS = ("max_vocab", "embed_dim", "hidden", "filters", "max_len")


def _pre_conv_overhead(c):
    """--pre-conv's bytes beyond its weights: per-channel scales, int32 bias, the mask and padding ops
    and their tensors (measured: 2,048 B at embed 16, 2,496 at 32)."""
    return 1600 + 28 * c.embed_dim if c.pre_conv else 0


# int8 flatbuffer bytes = params (1 byte each) + what the converter adds: int32
# biases, per-channel scales/zero points, op and tensor tables. Fitted on 32
# random configurations with random non-zero weights, converted by
# `export.to_tflite` (TF 2.21, int8, L 32/48/64; L does not matter): largest
# error 59 bytes (CNN), 99 (BiLSTM), 18 (attention). Untrained models are not a
# fair sample: the converter shares identical (all-zero) bias buffers, which
# makes them up to 5 KB smaller than the same model after training.
INT8_OVERHEAD = {
    "cnn": lambda c: 3630 + 1185 * len(c.kernel_sizes) + 27 * c.filters * len(c.kernel_sizes) + 27 * c.hidden,
    "bilstm": lambda c: 10560 + 55 * c.hidden + _pre_conv_overhead(c),
    "bilstm_attn": lambda c: 13500 + 108 * c.hidden + _pre_conv_overhead(c),
}


ESTIMATE_TOLERANCE = (512, 0.02)  # bytes, fraction: what the tests hold the estimate to


# --------------------------------------------------------------------------- size
def count_params(cfg):
    """Parameters of `build_student(cfg)` in closed form, so the budget check never builds a model."""
    v, e, h = cfg.vocab_size, cfg.embed_dim, cfg.hidden
    head = h + h * 2 + 2  # dense bias, logits kernel + bias
    if cfg.student == "cnn":
        f, ks = cfg.filters, cfg.kernel_sizes
        return v * e + sum(k * e * f + f for k in ks) + f * len(ks) * h + head
    lstm = 2 * 4 * (e * h + h * h + h)
    a = cfg.attention_dim or 2 * h
    attention = 2 * h * a + 2 * a if cfg.student == "bilstm_attn" else 0
    pre_conv = cfg.pre_conv * e * e + e if cfg.pre_conv else 0
    return v * e + pre_conv + lstm + attention + 2 * h * h + head


def estimate_int8_bytes(cfg):
    """Estimated size of the int8 flatbuffer `tfdistil convert --quantize int8` writes for `cfg`."""
    return count_params(cfg) + INT8_OVERHEAD[cfg.student](cfg)


# --------------------------------------------------------------------------- space
def search_space(student, distill, overrides=None):
    """The family's space, with `overrides` ({name: [choices]} or {name: {min, max, ...}}) applied."""
    space = {**COMMON_SPACE, **FAMILY_SPACE[student], **(ALPHA_SPACE if distill else {})}
    for name, spec in (overrides or {}).items():
        if name not in space:
            raise UserError(f"--space: {name!r} is not searched for {student}"
                            f"{' with --distill' if distill else ''}; known: {', '.join(space)}")
        space[name] = _checked_spec(name, spec)
    return space


def _checked_spec(name, spec):
    """A valid override, checked here: an error inside a trial would only mark that trial failed."""
    if isinstance(spec, dict):
        if name in SIZE_KEYS or name == "max_len":
            raise UserError(f"--space: {name} must be a list of choices")
        if not {"min", "max"} <= set(spec) <= {"min", "max", "step", "sampling"}:
            raise UserError(f"--space: {name} range needs min and max (and optionally step, sampling)")
        if not _numbers_within(name, [spec["min"], spec["max"]]) or not spec["min"] < spec["max"]:
            raise UserError(f"--space: {name} range must have min < max within {VALUE_BOUNDS[name]}")
        if spec.get("sampling", "linear") not in ("linear", "log") or (spec.get("sampling") == "log"
                                                                       and spec["min"] <= 0):
            raise UserError(f"--space: {name} sampling must be linear or log (log needs min > 0)")
        return spec
    if not isinstance(spec, list) or not spec:
        raise UserError(f"--space: {name} must be a non-empty list of choices or a {{min, max}} range")
    if name == "kernel_sizes":
        spec = [",".join(str(k) for k in ks) if isinstance(ks, list) else str(ks) for ks in spec]
        if not all(s and all(k.strip().isdigit() and int(k) > 0 for k in s.split(",")) for s in spec):
            raise UserError("--space: kernel_sizes choices are lists of positive ints, e.g. [[3], [3, 5]]")
    elif name in INT_KEYS and not all(isinstance(x, int) and x > 0 for x in spec):
        raise UserError(f"--space: {name} choices must be positive integers")
    elif name not in INT_KEYS:
        if not _numbers_within(name, spec):
            raise UserError(f"--space: {name} choices must be numbers within {VALUE_BOUNDS[name]}")
        spec = [float(x) for x in spec]  # a Keras Tuner Choice holds one type: [0, 0.2] would be refused
    return spec


def _numbers_within(name, xs):
    lo, hi = VALUE_BOUNDS[name]
    return all(isinstance(x, (int, float)) and not isinstance(x, bool) and lo <= x <= hi for x in xs)


def declare(hp, name, spec):
    """Register one hyperparameter with Keras Tuner and return its value in this trial."""
    if isinstance(spec, dict):
        return hp.Float(name, spec["min"], spec["max"], step=spec.get("step"),
                        sampling=spec.get("sampling", "linear"))
    return hp.Choice(name, spec)


def config_from_values(base, values, vocab_sizes):
    """The Config a trial trains: `base` with the trial's values (rounded, so best.json stays readable)."""
    d = base.to_dict()
    for name, v in values.items():
        if name == "kernel_sizes":
            d[name] = tuple(int(k) for k in v.split(","))
        elif name in ("dropout", "alpha"):
            d[name] = round(float(v), 4)
        elif name == "lr":
            d[name] = float(f"{float(v):.3g}")
        elif name in INT_KEYS:
            d[name] = int(v)
    d["epochs"] = int(values.get("tuner/epochs", base.epochs))  # Hyperband's per-trial epochs
    d["vocab_size"] = vocab_sizes[d["max_vocab"]]
    return Config.from_dict(d)


def smallest_config(base, space, vocab_sizes, vocab_flash=None):
    """The configuration with the smallest estimated int8 size the space allows, and that size
    (plus its C vocabulary's bytes, {max_vocab: bytes}, when the budget counts them)."""
    keys = [k for k in SIZE_KEYS if k in space]
    best = None
    for combo in itertools.product(*(space[k] for k in keys)):
        cfg = config_from_values(base, dict(zip(keys, combo)), vocab_sizes)
        size = estimate_int8_bytes(cfg) + (vocab_flash or {}).get(cfg.max_vocab, 0)
        if best is None or size < best[1]:
            best = (cfg, size)
    return best


def _describe(cfg, keys):
    return ", ".join(f"{k} {','.join(map(str, getattr(cfg, k))) if k == 'kernel_sizes' else getattr(cfg, k)}"
                     + (f" (vocab {cfg.vocab_size})" if k == "max_vocab" else "") for k in keys)
