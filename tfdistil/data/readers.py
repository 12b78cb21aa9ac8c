"""Any labelled text as a classification task: CSV, TSV or JSONL, any number of labels.

`read_labelled` turns one file into texts and label strings (every defect a
`FILE:LINE:` UserError); `load_task` maps labels to indices through the train
file's label set and, when there is no dev file, holds out a stratified part of
train. Plain Python + numpy, like splits.py, so the CLI's error paths stay fast.
`Split` (one split as every stage sees it) lives here so splits.py can import
this module and nothing imports back.
"""
import codecs
import csv
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

from tfdistil.errors import UserError

FORMATS = (".csv", ".tsv", ".jsonl")
TEXT_COLUMNS = ("sentence", "text")  # the default text column: the first one present
_INT = re.compile(r"[+-]?[0-9]+")


@dataclass
class Split:
    name: str
    sentences: list
    labels: np.ndarray  # int32 indices into label_names (0/1 for SST-2)
    sha256: str  # of the file bytes, so caches can tell when data changed
    label_names: tuple = ("0", "1")  # SST-2's; load_task sets the task's own
    class_names: tuple = None  # readable names when the labels are codes: SST-2's 0/1 are negative/positive

    def __len__(self):
        return len(self.sentences)


@dataclass
class Labelled:
    """One file as read: labels stay strings until `load_task` knows the label set."""
    path: str
    name: str
    texts: list
    labels: list  # str, whitespace stripped
    lines: list  # physical line where each record starts, for error messages
    sha256: str  # of the file bytes

    def __len__(self):
        return len(self.texts)


@dataclass
class Task:
    splits: dict  # "train", "dev", "test" -> Split ("test" may be None)
    label_names: tuple
    notes: list = field(default_factory=list)


def read_labelled(path, text_column=None, label_column="label", name=None):
    """Read a .csv, .tsv or .jsonl file of labelled texts; the extension picks the parser."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise UserError(f"{path}: unsupported file type {ext or '(no extension)'!r}; use {', '.join(FORMATS)}")
    if not os.path.isfile(path):
        raise UserError(f"{path}: file not found")
    with open(path, "rb") as f:
        raw = f.read()
    body = raw[len(codecs.BOM_UTF8):] if raw.startswith(codecs.BOM_UTF8) else raw  # = utf-8-sig
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        line = body[: e.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not valid UTF-8 (byte 0x{body[e.start]:02x})") from None
    # CRLF -> LF keeps the line count and makes multi-line fields the same on every OS.
    text = text.replace("\r\n", "\n")
    if ext == ".jsonl":
        texts, labels, lines = _read_jsonl(path, text, text_column, label_column)
    else:
        texts, labels, lines = _read_delimited(path, text, ext, text_column, label_column)
    if not texts:
        raise UserError(f"{path}: no rows (expected a header line and at least one labelled text)")
    return Labelled(path, name or os.path.basename(path), texts, labels, lines, hashlib.sha256(raw).hexdigest())


def _pick_text_column(path, line, columns, text_column, label_column):
    """The text column: as asked, else the first of TEXT_COLUMNS present; the label column must exist."""
    found = ", ".join(repr(c) for c in columns) or "none"
    if text_column is None:
        text_column = next((c for c in TEXT_COLUMNS if c in columns), None)
        if text_column is None:
            raise UserError(f"{path}:{line}: no 'sentence' or 'text' column (found {found}); pass --text-column")
    elif text_column not in columns:
        raise UserError(f"{path}:{line}: no text column {text_column!r} (found {found})")
    if label_column not in columns:
        raise UserError(f"{path}:{line}: no label column {label_column!r} (found {found}); pass --label-column")
    return text_column


def _check_row(path, line, text, label, text_column, label_column):
    if not isinstance(text, str):
        raise UserError(f"{path}:{line}: {text_column!r} must be a string, got {type(text).__name__}")
    if isinstance(label, bool) or not isinstance(label, (str, int)):  # json true/1.5: ambiguous label
        raise UserError(f"{path}:{line}: {label_column!r} must be a string or an integer, got {json.dumps(label)[:30]}")
    label = str(label).strip()
    if not text.strip():
        raise UserError(f"{path}:{line}: empty text in column {text_column!r}")
    if not label:
        raise UserError(f"{path}:{line}: empty label in column {label_column!r}")
    return label


def _read_delimited(path, text, ext, text_column, label_column):
    """CSV/TSV through the csv module: quoted fields may hold delimiters, quotes and newlines."""
    delimiter = "\t" if ext == ".tsv" else ","
    reader = csv.reader(_lines(text), delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
    header = None
    texts, labels, lines = [], [], []
    last = 0  # reader.line_num after the previous record: this record starts on the next line
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise UserError(f"{path}:{last + 1}: malformed {ext[1:].upper()} ({e})") from None
        start, last = last + 1, reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if header is None:
            header = [c.strip() for c in row]
            tcol = _pick_text_column(path, start, header, text_column, label_column)
            ti, li = header.index(tcol), header.index(label_column)
            continue
        if len(row) != len(header):  # an unquoted delimiter would otherwise shift the columns silently
            raise UserError(f"{path}:{start}: expected {len(header)} columns like the header, got {len(row)}")
        texts.append(row[ti])
        labels.append(_check_row(path, start, row[ti], row[li], tcol, label_column))
        lines.append(start)
    return texts, labels, lines


def _lines(text):
    """Lines split on '\\n' only, so line numbers match `raw.count(b'\\n')` and editors."""
    parts = text.split("\n")
    for part in parts[:-1]:
        yield part + "\n"
    if parts[-1]:
        yield parts[-1]


def _read_jsonl(path, text, text_column, label_column):
    """One JSON object per line; the first object decides the default text column."""
    texts, labels, lines = [], [], []
    tcol = text_column
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise UserError(f"{path}:{lineno}: not valid JSON") from None
        if not isinstance(obj, dict):
            raise UserError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        if not texts:
            tcol = _pick_text_column(path, lineno, list(obj), text_column, label_column)
        for key in (tcol, label_column):
            if key not in obj:
                raise UserError(f"{path}:{lineno}: no {key!r} field")
        labels.append(_check_row(path, lineno, obj[tcol], obj[label_column], tcol, label_column))
        texts.append(obj[tcol])
        lines.append(lineno)
    return texts, labels, lines


def label_set(train_labels):
    """Label names in index order: numeric when every label is an integer (so SST-2's 0/1 keep
    their meaning and "10" follows "2"), else sorted as strings; either way independent of row order."""
    names = set(train_labels)
    if names and all(_INT.fullmatch(n) for n in names):
        return tuple(sorted(names, key=lambda n: (int(n), n)))
    return tuple(sorted(names))


def _split(name, texts, labels, index, sha256, label_names):
    return Split(name, list(texts), np.asarray([index[lab] for lab in labels], np.int32), sha256, tuple(label_names))


def _carve_dev(labels, label_names, fraction, seed):
    """Row indices held out as dev: per class round(fraction * n) rows (at least one when the class
    has two or more, never all of them), drawn with a fixed seed; sorted so row order is kept."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=object)
    dev = []
    for lab in label_names:  # fixed order, so the draws depend only on the data and the seed
        rows = np.flatnonzero(labels == lab)
        k = min(max(math.floor(fraction * len(rows) + 0.5), 1), len(rows) - 1)
        if k > 0:
            dev.extend(rng.choice(rows, size=k, replace=False).tolist())
    return sorted(dev)


def load_task(train, dev=None, test=None, text_column=None, label_column="label", dev_fraction=0.1, seed=0):
    """Train/dev/test files as Splits with label indices into the train file's label set.

    Without a dev file a stratified `dev_fraction` of train becomes dev; both parts get a
    sha256 derived from the file's and the carving parameters, so caches see a new seed."""
    kw = dict(text_column=text_column, label_column=label_column)
    tr = read_labelled(train, name="train", **kw)
    names = label_set(tr.labels)
    if len(names) < 2:
        raise UserError(f"{train}: every row has label {names[0]!r}; a classifier needs at least two labels")
    index = {n: i for i, n in enumerate(names)}
    notes = []
    splits = {}
    if dev is None:
        if not 0 < dev_fraction < 1:
            raise UserError(f"--dev-fraction must be between 0 and 1 (exclusive), got {dev_fraction}")
        held = _carve_dev(tr.labels, names, dev_fraction, seed)
        if not held:
            raise UserError(f"{train}: too few rows to hold out a dev split (every label occurs once); pass --dev")
        keep = np.ones(len(tr), bool)
        keep[held] = False
        tag = f"{tr.sha256}:dev_fraction={dev_fraction!r}:seed={seed}"
        for part, rows in (("train", np.flatnonzero(keep)), ("dev", held)):
            sha = hashlib.sha256(f"{tag}:{part}".encode()).hexdigest()
            splits[part] = _split(part, [tr.texts[i] for i in rows], [tr.labels[i] for i in rows], index, sha, names)
        notes.append(f"no --dev file: {dev_fraction * 100:g}% of train ({len(held)} rows, stratified, seed {seed}) "
                     f"held out as dev")
    else:
        splits["train"] = _split("train", tr.texts, tr.labels, index, tr.sha256, names)
    for part, path in (("dev", dev), ("test", test)):
        if path is None:
            splits.setdefault(part, None)
            continue
        other = read_labelled(path, name=part, **kw)
        for lab, line in zip(other.labels, other.lines):
            if lab not in index:
                raise UserError(f"{path}:{line}: label {lab!r} does not occur in the training file {train}")
        splits[part] = _split(part, other.texts, other.labels, index, other.sha256, names)
        missing = [n for n in names if n not in set(other.labels)]
        if missing:
            notes.append(f"{path}: no rows with label {', '.join(map(repr, missing))}")
        seen = set(splits["train"].sentences)
        shared = sum(t in seen for t in other.texts)
        if shared:
            notes.append(f"{path}: {shared} of {len(other)} texts also occur in train")
    if test is None:
        notes.append("no --test file: no test split")
    return Task(splits, names, notes)
