"""Accuracy on named slices of a split (negation, contrast, ...) beside the teacher's.

A student at 89 % overall can still read "not" and "but" far worse than the
teacher does; the overall figure hides it because those sentences are a
minority. A slice is a named regular expression matched case-insensitively
on word boundaries over the raw text. A row in several slices counts in each;
"plain" is every row in no named slice, and "all" is the whole split.

No TensorFlow here: `evaluate` and `evaluate-tflite` read the `--slices` file
through this module before they import it, so a bad file costs one line and no
start-up time.
"""
import json
import os
import re

import numpy as np

from tfdistil.errors import UserError

# English defaults. "n't" is matched as the end of a word ("doesn't") or on its own
# (SST's PTB tokens: "does n't"); the apostrophe may be typographic.
DEFAULT_SLICES = {
    "negation": r"not|[a-z]*n['\u2019]t|never|no|nothing|nobody|none|neither|nor|hardly",
    "contrast": r"but|yet|although|though|however|despite|while",
}
ALL, PLAIN = "all", "plain"
SHIPPED_DIR = os.path.join(os.path.dirname(__file__), "assets")
# The strongest shipped teacher first: a student is compared with the best reading of a slice we have.
SHIPPED_CACHES = ("sst2_mpnet_logits.npz", "sst2_minilm_logits.npz")


def compile_slices(spec, source="slices"):
    """{name: compiled regex} from {name: pattern}; each pattern is wrapped in word boundaries that
    also hold next to punctuation (`(?<!\\w)...(?!\\w)`), so `n't` or `--` work as patterns."""
    if not isinstance(spec, dict) or not spec:
        raise UserError(f"{source}: no slices (expected a non-empty mapping of name to regular expression)")
    out = {}
    for name, pattern in spec.items():
        if name in (ALL, PLAIN):
            raise UserError(f"{source}: slice name {name!r} is reserved (all rows / rows in no slice)")
        if not isinstance(pattern, str) or not pattern.strip():
            raise UserError(f"{source}: slice {name!r} needs a non-empty regular expression string")
        try:
            out[name] = re.compile(rf"(?<!\w)(?:{pattern})(?!\w)", re.IGNORECASE)
        except re.error as e:
            raise UserError(f"{source}: slice {name!r}: bad regular expression {pattern!r} ({e})") from None
    return out


def load_slices(path=None):
    """The slices of a JSON or TOML file `{name: regex}` (by extension; anything else is tried as
    JSON), or the English defaults when `path` is None. Every problem is one UserError."""
    if path is None:
        return compile_slices(DEFAULT_SLICES, "default slices")
    if not os.path.isfile(path):
        raise UserError(f"--slices {path}: file not found")
    try:
        with open(path, "rb") as f:
            raw = f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"--slices {path}: cannot read it ({e})") from None
    if path.lower().endswith(".toml"):
        import tomllib
        try:
            spec = tomllib.loads(raw)
        except tomllib.TOMLDecodeError as e:
            raise UserError(f"--slices {path}: not valid TOML ({e})") from None
    else:
        try:
            spec = json.loads(raw)
        except ValueError as e:
            raise UserError(f"--slices {path}: not valid JSON ({e})") from None
    return compile_slices(spec, f"--slices {path}")


def patterns(slices):
    """{name: the pattern as written}, for the record (strips the boundary wrapper)."""
    return {name: rx.pattern[len(r"(?<!\w)(?:"):-len(r")(?!\w)")] for name, rx in slices.items()}


def slice_masks(texts, slices):
    """{all, each slice, plain: boolean mask over `texts`}."""
    masks = {ALL: np.ones(len(texts), bool)}
    for name, rx in slices.items():
        masks[name] = np.array([rx.search(t) is not None for t in texts], bool)
    named = [m for n, m in masks.items() if n != ALL]
    masks[PLAIN] = ~np.any(named, axis=0) if named else np.ones(len(texts), bool)
    return masks


def _scores(labels, pred, mask, names):
    from tfdistil.metrics import classification_report
    n = int(mask.sum())
    if not n:
        return {"n": 0, "accuracy": None, "macro_f1": None}
    r = classification_report(labels[mask], pred[mask], names)
    return {"n": n, "accuracy": r["accuracy"], "macro_f1": r["macro_f1"]}


def slice_report(texts, labels, pred, names, slices, teacher_pred=None):
    """[{slice, n, accuracy, macro_f1[, teacher_accuracy, teacher_macro_f1, gap]}] for all, each slice
    and plain. `gap` = teacher accuracy - student accuracy (points of accuracy the student gives up)."""
    labels, pred = np.asarray(labels), np.asarray(pred)
    rows = []
    for name, mask in slice_masks(texts, slices).items():
        row = {"slice": name, **_scores(labels, pred, mask, names)}
        if teacher_pred is not None:
            t = _scores(labels, np.asarray(teacher_pred), mask, names)
            row["teacher_accuracy"], row["teacher_macro_f1"] = t["accuracy"], t["macro_f1"]
            row["gap"] = None if t["accuracy"] is None else t["accuracy"] - row["accuracy"]
        rows.append(row)
    return rows


def _rows_of(info, split):
    """How many leading cache rows are this split: all of them, or the first N of a `--limit N`
    split (whose sha256 is derived from the full file's, see `load_split`); None if other data."""
    import hashlib
    if not info or not info.get("sha256"):
        return None
    if info["sha256"] == split.sha256:
        return len(split)
    limited = hashlib.sha256((info["sha256"] + f":first{len(split)}").encode()).hexdigest()
    return len(split) if limited == split.sha256 else None


def teacher_predictions(split, path=None):
    """(teacher argmax per row, {path, teacher}) for a loaded `split`, or (None, {reason}).

    An explicit `path` must be a cache made for this split (else UserError); without one the
    shipped SST-2 caches are tried, strongest teacher first, and used only if their sha256 of
    this split matches (other data simply gets no teacher column)."""
    from tfdistil.teacher.logits_cache import read_header, read_logits
    candidates = [path] if path else [os.path.join(SHIPPED_DIR, n) for n in SHIPPED_CACHES]
    for cache in candidates:
        if not path and not os.path.isfile(cache):
            continue
        if not os.path.isfile(cache):
            raise UserError(f"--teacher-logits {cache}: file not found")
        info = read_header(cache)["splits"].get(split.name)
        n = _rows_of(info, split)
        if n is None:
            if path:  # read_logits says what is wrong (no such split, or made for other data)
                read_logits(cache, split.name, split.sha256)
            continue
        logits, header = read_logits(cache, split.name, info["sha256"], info.get("rows"))
        shown = cache if path else "tfdistil/assets/" + os.path.basename(cache)
        return logits[:n].argmax(-1), {"path": shown, "teacher": header.get("teacher")}
    return None, {"path": None, "reason": f"no shipped teacher cache matches this {split.name} split"}


def resolve(slices):
    """None (the English defaults), a file path, {name: pattern} or already compiled slices."""
    if slices is None or isinstance(slices, (str, os.PathLike)):
        return load_slices(None if slices is None else str(slices))
    if all(isinstance(v, re.Pattern) for v in slices.values()) and slices:
        return slices
    return compile_slices(slices)


def evaluate_slices(split, pred, names, slices=None, teacher_logits=None):
    """The `slices` entry `evaluate` and `evaluate-tflite` add to their result."""
    slices = resolve(slices)
    teacher, info = teacher_predictions(split, teacher_logits)
    return {"patterns": patterns(slices), "teacher": info,
            "rows": slice_report(split.sentences, split.labels, pred, names, slices, teacher)}


def _pct(x):
    return "–" if x is None else f"{100 * x:.2f}"


def markdown(result):
    """The slice rows as a Markdown table (student, and the teacher beside it when known)."""
    rows = result["rows"]
    has_teacher = rows and "teacher_accuracy" in rows[0]
    head = "| slice | n | accuracy | macro-F1 |" + (" teacher acc. | gap |" if has_teacher else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        line = f"| {r['slice']} | {r['n']} | {_pct(r['accuracy'])} | {_pct(r['macro_f1'])} |"
        if has_teacher:
            line += f" {_pct(r['teacher_accuracy'])} | {_pct(r['gap'])} |"
        lines.append(line)
    return "\n".join(lines)
