"""One split of the data, whatever holds it: a GLUE folder (SST-2), the user's own files
(`TaskFiles`, read by readers.py) or TFDS. `load_split` is what every stage calls.

Everything here is plain Python + numpy so it is cheap to import (the CLI's
error paths and the Pi runner never pay for TensorFlow). readers.py does not
import this module: the arrow runs one way.
"""
import functools
import hashlib
import os
from dataclasses import dataclass, replace

import numpy as np

from tfdistil.data.readers import Split, load_task
from tfdistil.errors import UserError

# GLUE SST-2's labels are 0/1; what they mean (the dataset card: 0 negative, 1 positive), recorded in
# a run's vocab.json so a runner can print a readable answer.
SST2_CLASS_NAMES = ("negative", "positive")

SPLITS = ("train", "dev", "test")
PAD, UNK = "<pad>", "<unk>"


def read_tsv(path, name=None):
    """Read a GLUE `sentence<TAB>label` file with a header; every defect is a UserError."""
    name = name or os.path.basename(path)
    if not os.path.isfile(path):
        raise UserError(f"{path}: file not found")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not valid UTF-8 (byte 0x{raw[e.start]:02x})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise UserError(f"{path}: empty file (expected a 'sentence<TAB>label' header)")
    header = lines[0].rstrip("\r").split("\t")
    if header[:2] != ["sentence", "label"]:
        raise UserError(f"{path}:1: expected header 'sentence<TAB>label', got {lines[0][:60]!r}")
    sentences, labels = [], []
    for lineno, line in enumerate(lines[1:], start=2):
        cols = line.rstrip("\r").split("\t")
        if len(cols) != 2:
            raise UserError(f"{path}:{lineno}: expected 2 tab-separated columns, got {len(cols)}")
        if cols[1] not in ("0", "1"):
            raise UserError(f"{path}:{lineno}: label must be 0 or 1, got {cols[1][:20]!r}")
        sentences.append(cols[0])
        labels.append(int(cols[1]))
    if not sentences:
        raise UserError(f"{path}: split '{name}' has no rows")
    return Split(name, sentences, np.asarray(labels, np.int32), hashlib.sha256(raw).hexdigest(),
                 class_names=SST2_CLASS_NAMES)


@dataclass(frozen=True)
class TaskFiles:
    """Labelled files the user brought (`--train F [--dev F] [--test F]`, CSV/TSV/JSONL, any number
    of classes) in place of a GLUE folder: every `load_split(data, ...)` accepts either."""
    train: str
    dev: str = None
    test: str = None
    text_column: str = None
    label_column: str = "label"
    seed: int = 0

    def cli_args(self):
        """The command-line flags that name these files (for the `command` a result records)."""
        args = ["--train", self.train]
        for flag, value in (("--dev", self.dev), ("--test", self.test), ("--text-column", self.text_column)):
            args += [flag, value] if value else []
        return args + (["--label-column", self.label_column] if self.label_column != "label" else [])


@functools.lru_cache(maxsize=4)
def _task(files):
    return load_task(files.train, files.dev, files.test, files.text_column, files.label_column, seed=files.seed)


def data_cli_args(data):
    """`--data DIR` or the `--train ...` flags: how a result's recorded command names its data."""
    return data.cli_args() if isinstance(data, TaskFiles) else ["--data", str(data)]


def task_notes(data):
    """What reading the data decided for the user (e.g. a dev split carved from train)."""
    return list(_task(data).notes) if isinstance(data, TaskFiles) else []


def label_names(data):
    """Ordered class names of the data: ("0", "1") for a GLUE SST-2 folder."""
    return tuple(_task(data).label_names) if isinstance(data, TaskFiles) else ("0", "1")


def has_split(data, split):
    if isinstance(data, TaskFiles):
        return _task(data).splits.get(split) is not None
    if data == "tfds":
        return split != "test"  # TFDS glue/sst2 has no test labels
    return os.path.isfile(os.path.join(data, f"{split}.tsv"))


def load_split(data, split, limit=None):
    """One split from a GLUE folder, TaskFiles, or TFDS (data == 'tfds'); `limit` keeps the first rows."""
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if limit is not None and limit < 0:  # a negative slice would silently drop the last rows
        raise UserError(f"--limit must be positive (or 0 for all rows), got {limit}")
    if isinstance(data, TaskFiles):
        s = _task(data).splits.get(split)
        if s is None:
            raise UserError(f"no --{split} file given (the task has {', '.join(k for k, v in _task(data).splits.items() if v)})")
    elif data == "tfds":
        s = _load_tfds(split)
    else:
        if not os.path.isdir(data):
            raise UserError(f"{data}: data folder not found (pass --data DIR or set TFDISTIL_DATA; it needs GLUE train.tsv/dev.tsv/test.tsv)")
        s = read_tsv(os.path.join(data, f"{split}.tsv"), split)
    if limit:
        s = replace(s, sentences=s.sentences[:limit], labels=s.labels[:limit],
                    sha256=hashlib.sha256((s.sha256 + f":first{limit}").encode()).hexdigest())
    return s


def _load_tfds(split):
    """TFDS glue/sst2, only when the user asks for it (offline it hangs rather than fails)."""
    if split == "test":
        raise UserError("TFDS glue/sst2 has no test labels (label -1); use --data DIR with a labelled test.tsv")
    import tensorflow_datasets as tfds  # deferred: slow import, network access

    ds = tfds.load("glue/sst2", split={"train": "train", "dev": "validation"}[split])
    sentences, labels = [], []
    for ex in tfds.as_numpy(ds):
        sentences.append(ex["sentence"].decode("utf-8"))
        labels.append(int(ex["label"]))
    digest = hashlib.sha256("\n".join(f"{s}\t{l}" for s, l in zip(sentences, labels)).encode()).hexdigest()
    return Split(split, sentences, np.asarray(labels, np.int32), digest, class_names=SST2_CLASS_NAMES)
